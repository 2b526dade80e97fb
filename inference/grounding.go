package inference

import (
	"fmt"
	"math"

	"captionai/vocab"
)

// groundingJSON is CaptionAI's own section of config.json ("captionai"),
// which transformers.js ignores: the detector output of the encoder, the words
// that need its evidence, the words that may repeat, and the confidence
// calibration, all written by training/export.py.
type groundingJSON struct {
	Detector struct {
		Output string   `json:"output"` // encoder output, [batch, classes] scores in 0..1
		Labels []string `json:"labels"`
	} `json:"detector"`
	// A word naming a class is banned while the detector's score for that
	// class is below VetoBelow (or the class's own entry in VetoBelowClass).
	Words          map[string]int     `json:"words"`
	VetoBelow      float64            `json:"veto_below"`
	VetoBelowClass map[string]float64 `json:"veto_below_class"`
	// The photo's top-scoring class is never banned when its score is at
	// least KeepTopAbove (0: off): a close-up of bananas scores only 0.3.
	KeepTopAbove float64 `json:"keep_top_above"`
	// With VetoPenalty > 0 a word under its threshold is not banned but
	// costs VetoPenalty × ln(score / threshold) in log-probability, so a word
	// the model is sure of survives weak evidence (0: banned).
	VetoPenalty float64 `json:"veto_penalty"`
	// With NoRepeatWords, a word already in the caption is banned unless it is
	// one of RepeatExempt ("a", "of", ...): "a white white bird" cannot happen.
	NoRepeatWords bool     `json:"no_repeat_words"`
	RepeatExempt  []string `json:"repeat_exempt"`
	Confidence    *struct {
		// Logistic regression over Evidence.features(), bias last.
		Weights       []float64 `json:"weights"`
		ProbableBelow float64   `json:"probable_below"`
		UnsureBelow   float64   `json:"unsure_below"`
		SafeText      string    `json:"safe_text"`
	} `json:"confidence"`
}

// grounding is groundingJSON resolved against the tokenizer.
type grounding struct {
	detectorOut string
	labels      []string
	classOf     map[int64]int // token -> detector class
	vetoBelow   []float64     // per class
	keepTop     float64
	penalty     float64
	noRepeat    bool
	exempt      map[int64]bool
	weights     []float64
	probable    float64
	unsure      float64
	safeText    string
}

func parseGrounding(j *groundingJSON, tok *Tokenizer) (*grounding, error) {
	if j == nil {
		return nil, nil
	}
	g := &grounding{detectorOut: j.Detector.Output, labels: j.Detector.Labels, noRepeat: j.NoRepeatWords}
	if len(j.Words) > 0 {
		if g.detectorOut == "" || len(g.labels) == 0 {
			return nil, fmt.Errorf("captionai.words needs captionai.detector with an output and labels")
		}
		g.vetoBelow, g.keepTop, g.penalty = make([]float64, len(g.labels)), j.KeepTopAbove, j.VetoPenalty
		for i, l := range g.labels {
			g.vetoBelow[i] = j.VetoBelow
			if v, ok := j.VetoBelowClass[l]; ok {
				g.vetoBelow[i] = v
			}
		}
		g.classOf = map[int64]int{}
		for w, c := range j.Words {
			if c < 0 || c >= len(g.labels) {
				return nil, fmt.Errorf("captionai.words: %q names class %d of %d", w, c, len(g.labels))
			}
			if id, ok := tok.ID(w); ok {
				g.classOf[id] = c
			}
		}
	}
	g.exempt = map[int64]bool{}
	for _, w := range j.RepeatExempt {
		if id, ok := tok.ID(w); ok {
			g.exempt[id] = true
		}
	}
	if c := j.Confidence; c != nil {
		if len(c.Weights) != evidenceFeatures+1 {
			return nil, fmt.Errorf("captionai.confidence.weights: want %d numbers, have %d", evidenceFeatures+1, len(c.Weights))
		}
		if g.detectorOut == "" {
			return nil, fmt.Errorf("captionai.confidence needs captionai.detector")
		}
		g.weights, g.probable, g.unsure, g.safeText = c.Weights, c.ProbableBelow, c.UnsureBelow, c.SafeText
	}
	return g, nil
}

// banned lists the tokens the detector gives no evidence for in this photo,
// or, with a veto penalty, what each such token costs.
func (g *grounding) banned(scores []float32) (ids []int64, cost map[int64]float64) {
	if g == nil || len(scores) == 0 {
		return nil, nil
	}
	top := -1
	if g.keepTop > 0 {
		top = argmax(scores)
		if float64(scores[top]) < g.keepTop {
			top = -1
		}
	}
	for id, c := range g.classOf {
		s := float64(scores[c])
		switch {
		case c == top || s >= g.vetoBelow[c]:
		case g.penalty > 0:
			if cost == nil {
				cost = map[int64]float64{}
			}
			cost[id] = g.penalty * math.Log(max(s, 1e-6)/g.vetoBelow[c])
		default:
			ids = append(ids, id)
		}
	}
	return ids, cost
}

// Evidence is what the confidence of a caption is computed from; training/
// fits the calibration on the same numbers (`captionai caption --evidence`).
type Evidence struct {
	MeanLogProb float64 // mean log-probability of the caption's tokens, eos included
	MinLogProb  float64 // of its least likely token
	Named       bool    // the caption names a detector class
	NamedScore  float64 // the lowest detector score among the classes it names (1 if none)
	TopScore    float64 // the detector's highest class score
}

const evidenceFeatures = 5

func (e Evidence) features() [evidenceFeatures]float64 {
	named := 0.0
	if e.Named {
		named = 1
	}
	return [evidenceFeatures]float64{e.MeanLogProb, e.MinLogProb, named, e.NamedScore, e.TopScore}
}

func (g *grounding) evidence(seq []int64, tokLogProbs []float64, scores []float32) Evidence {
	e := Evidence{MinLogProb: 0, NamedScore: 1}
	for i, lp := range tokLogProbs {
		e.MeanLogProb += lp
		if i == 0 || lp < e.MinLogProb {
			e.MinLogProb = lp
		}
	}
	if len(tokLogProbs) > 0 {
		e.MeanLogProb /= float64(len(tokLogProbs))
	}
	for _, s := range scores {
		e.TopScore = max(e.TopScore, float64(s))
	}
	if g != nil && len(scores) > 0 {
		for _, t := range seq {
			if c, ok := g.classOf[t]; ok {
				e.Named = true
				e.NamedScore = min(e.NamedScore, float64(scores[c]))
			}
		}
	}
	return e
}

// confidence maps evidence to a calibrated probability and its certainty
// word; ok is false when the model has no calibration.
func (g *grounding) confidence(e Evidence) (p float64, certainty string, ok bool) {
	if g == nil || g.weights == nil {
		return 0, "", false
	}
	z := g.weights[evidenceFeatures]
	for i, f := range e.features() {
		z += g.weights[i] * f
	}
	p = 1 / (1 + math.Exp(-z))
	switch {
	case p < g.unsure:
		return p, vocab.Unsure, true
	case p < g.probable:
		return p, vocab.Probable, true
	}
	return p, vocab.Sure, true
}
