package inference

import (
	"encoding/json"
	"math"
	"testing"

	"captionai/vocab"
)

func TestGrounding(t *testing.T) {
	t.Parallel()
	tok, err := ParseTokenizer([]byte(`{"model": {"type": "WordLevel", "vocab": {"<pad>": 0, "<bos>": 1, "<eos>": 2, "a": 3, "cat": 4, "dog": 5, "man": 6, "sofa": 7}, "unk_token": "<pad>"},
		"pre_tokenizer": {"type": "Whitespace"}, "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": false}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var j groundingJSON
	err = json.Unmarshal([]byte(`{
		"detector": {"output": "detector_scores", "labels": ["person", "cat", "dog"]},
		"words": {"man": 0, "cat": 1, "dog": 2, "giraffe": 2},
		"veto_below": 0.1, "veto_below_class": {"person": 0.3},
		"no_repeat_words": true, "repeat_exempt": ["a", "unknown"],
		"confidence": {"weights": [2, 0, 1, 0, 0, 1], "probable_below": 0.8, "unsure_below": 0.4, "safe_text": "a photo"}}`), &j)
	if err != nil {
		t.Fatal(err)
	}
	g, err := parseGrounding(&j, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !g.noRepeat || !g.exempt[3] || len(g.exempt) != 1 {
		t.Errorf("repeat settings %v %v", g.noRepeat, g.exempt)
	}
	// person 0.2 is below its own 0.3; cat 0.05 below 0.1; dog 0.9 is seen.
	banned := map[int64]bool{}
	ids, cost := g.banned([]float32{0.2, 0.05, 0.9})
	for _, id := range ids {
		banned[id] = true
	}
	if len(banned) != 2 || !banned[6] || !banned[4] || cost != nil {
		t.Errorf("banned %v (costs %v), want man (6) and cat (4)", banned, cost)
	}
	// With a veto penalty the same words cost penalty × ln(score / threshold)
	// instead: man 2 ln(0.2/0.3), cat 2 ln(0.05/0.1); nothing is banned.
	j.VetoPenalty = 2
	if g, err = parseGrounding(&j, tok); err != nil {
		t.Fatal(err)
	}
	ids, cost = g.banned([]float32{0.2, 0.05, 0.9})
	if len(ids) != 0 || len(cost) != 2 || math.Abs(cost[6]-2*math.Log(0.2/0.3)) > 1e-6 || math.Abs(cost[4]-2*math.Log(0.5)) > 1e-6 {
		t.Errorf("with a penalty: banned %v, costs %v", ids, cost)
	}
	gen := &GenerationConfig{Penalty: cost}
	logp := []float64{-1, -1, -1, -1, -1, -1, -1, -1}
	processScores(gen, []int64{1}, logp)
	if math.Abs(logp[4]-(-1+2*math.Log(0.5))) > 1e-6 || logp[5] != -1 || logp[6] >= -1 {
		t.Errorf("log-probabilities after the penalties: %v", logp)
	}
	j.VetoPenalty = 0
	// With keep_top_above 0.15, the top class (cat at 0.2, not at 0.14) passes
	// its veto; man stays banned, dog at 0.1 is seen.
	j.VetoBelowClass["cat"] = 0.5
	j.KeepTopAbove = 0.15
	if g, err = parseGrounding(&j, tok); err != nil {
		t.Fatal(err)
	}
	for scores, want := range map[[3]float32]int{{0.05, 0.2, 0.1}: 1, {0.05, 0.14, 0.1}: 2, {0.4, 0.2, 0.1}: 1} {
		if ids, _ := g.banned(scores[:]); len(ids) != want {
			t.Errorf("scores %v: %d words banned, want %d", scores, len(ids), want)
		}
	}
	j.VetoBelowClass, j.KeepTopAbove = map[string]float64{"person": 0.3}, 0
	if g, err = parseGrounding(&j, tok); err != nil {
		t.Fatal(err)
	}

	e := g.evidence([]int64{1, 3, 5, 3, 7, 2}, []float64{-0.5, -1, -0.25, -0.25, -0.5}, []float32{0.2, 0.05, 0.9})
	if e.MeanLogProb != -0.5 || e.MinLogProb != -1 || !e.Named || math.Abs(e.NamedScore-0.9) > 1e-6 || math.Abs(e.TopScore-0.9) > 1e-6 {
		t.Errorf("evidence %+v", e)
	}
	// z = 2*(-0.5) + 1*1 + 1 = 1: p = 0.73, below 0.8 and above 0.4.
	p, c, ok := g.confidence(e)
	if !ok || math.Abs(p-1/(1+math.Exp(-1))) > 1e-9 || c != vocab.Probable {
		t.Errorf("confidence %g %q %v", p, c, ok)
	}
	if _, c, _ := g.confidence(Evidence{MeanLogProb: -3, NamedScore: 1}); c != vocab.Unsure {
		t.Errorf("a caption at mean log-probability -3 is %q, want unsure", c)
	}
	if _, c, _ := g.confidence(Evidence{MeanLogProb: 0, Named: true, NamedScore: 1}); c != vocab.Sure {
		t.Errorf("a certain caption is %q, want sure", c)
	}

	// Without the section nothing is banned and there is no confidence.
	var none *grounding
	if ids, cost := none.banned([]float32{0}); ids != nil || cost != nil {
		t.Error("nil grounding bans words")
	}
	if _, _, ok := none.confidence(e); ok {
		t.Error("nil grounding gives a confidence")
	}
	j.Confidence.Weights = []float64{1}
	if _, err := parseGrounding(&j, tok); err == nil {
		t.Error("wrong number of weights accepted")
	}
}
