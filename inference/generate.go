package inference

import (
	"context"
	"errors"
	"math"
	"slices"
	"sort"
)

// stepSource is what the searches need from the decoder; *stepper implements it.
type stepSource interface {
	next(seqs [][]int64) ([]float32, int, error)
	reorder(idx []int) error
}

// greedySearch follows transformers' greedy decoding: argmax of the processed
// logits until eos or max length. The result starts with the start token.
func greedySearch(ctx context.Context, g *GenerationConfig, src stepSource) ([]int64, []float64, error) {
	seq := []int64{g.DecoderStartID}
	var scores, lps []float64
	for len(seq) < g.MaxLength {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		logits, vocab, err := src.next([][]int64{seq})
		if err != nil {
			return nil, nil, err
		}
		scores = toFloat64(scores, logits[:vocab])
		logSoftmax(scores) // keeps the argmax; gives the token's log-probability
		processScores(g, seq, scores)
		tok := int64(argmax(scores))
		seq = append(seq, tok)
		lps = append(lps, scores[tok])
		if g.isEOS(tok) {
			break
		}
	}
	return seq, lps, nil
}

// beamSearch follows transformers' beam search (BeamSearchScorer with one
// input): log-softmax scores, 2*beams candidates per step, finished
// hypotheses scored as sum_logprobs / len^length_penalty where len counts the
// start token but not eos, and early_stopping's three modes. It also returns
// the log-probability of each token of the result.
func beamSearch(ctx context.Context, g *GenerationConfig, src stepSource) ([]int64, []float64, error) {
	nb := g.NumBeams
	seqs := make([][]int64, nb)
	lps := make([][]float64, nb)
	beamScores := make([]float64, nb)
	for i := range seqs {
		seqs[i] = []int64{g.DecoderStartID}
		if i > 0 {
			// Only the first beam is live at the start; the rest are copies.
			beamScores[i] = -1e9
		}
	}
	hyps := beamHyps{n: nb, lengthPenalty: g.LengthPenalty, early: g.EarlyStopping, maxLen: g.MaxLength, worst: 1e9}
	keep := max(2, 1+len(g.EOSTokenIDs)) * nb
	done := false
	var row []float64
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		cur := len(seqs[0])
		logits, vocab, err := src.next(seqs)
		if err != nil {
			return nil, nil, err
		}
		var cands []candidate
		for b := 0; b < nb; b++ {
			row = toFloat64(row, logits[b*vocab:(b+1)*vocab])
			logSoftmax(row)
			processScores(g, seqs[b], row)
			for t, s := range row {
				cands = pushTop(cands, candidate{score: s + beamScores[b], beam: b, token: int64(t), flat: b*vocab + t}, keep)
			}
		}

		var next []candidate
		for rank, c := range cands {
			if g.isEOS(c.token) {
				if rank < nb {
					hyps.add(seqs[c.beam], append(slices.Clone(lps[c.beam]), c.score-beamScores[c.beam]), c.score)
				}
			} else {
				next = append(next, c)
			}
			if len(next) == nb {
				break
			}
		}
		if len(next) < nb {
			return nil, nil, errors.New("inference: beam search ran out of candidates (too many banned tokens?)")
		}
		done = done || hyps.isDone(cands[0].score, cur)

		newSeqs := make([][]int64, nb)
		newLps := make([][]float64, nb)
		idx := make([]int, nb)
		for i, c := range next {
			newSeqs[i] = append(slices.Clone(seqs[c.beam]), c.token)
			newLps[i] = append(slices.Clone(lps[c.beam]), c.score-beamScores[c.beam])
			idx[i] = c.beam
		}
		for i, c := range next {
			beamScores[i] = c.score
		}
		seqs, lps = newSeqs, newLps
		if done || len(seqs[0]) >= g.MaxLength {
			break
		}
		if err := src.reorder(idx); err != nil {
			return nil, nil, err
		}
	}
	if !done {
		for i, s := range seqs {
			hyps.add(s, lps[i], beamScores[i])
		}
	}
	best := hyps.best()
	seq := best.seq
	if len(seq) < g.MaxLength && len(g.EOSTokenIDs) > 0 {
		seq = append(seq, g.EOSTokenIDs[0])
	}
	return seq, best.lps, nil
}

type candidate struct {
	score float64
	beam  int
	token int64
	flat  int // beam*vocab + token, the tie-breaker
}

func better(a, b candidate) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.flat < b.flat
}

// pushTop keeps the best k candidates sorted best first.
func pushTop(top []candidate, c candidate, k int) []candidate {
	if len(top) == k && !better(c, top[k-1]) {
		return top
	}
	i := sort.Search(len(top), func(i int) bool { return better(c, top[i]) })
	if len(top) < k {
		top = append(top, candidate{})
	}
	copy(top[i+1:], top[i:len(top)-1])
	top[i] = c
	return top
}

type hypothesis struct {
	score float64
	seq   []int64
	lps   []float64 // each generated token's log-probability
}

// beamHyps is transformers' BeamHypotheses for one input.
type beamHyps struct {
	n             int
	lengthPenalty float64
	early         string
	maxLen        int
	items         []hypothesis
	worst         float64
}

func (h *beamHyps) add(seq []int64, lps []float64, sumLogprobs float64) {
	score := sumLogprobs / math.Pow(float64(len(seq)), h.lengthPenalty)
	if len(h.items) >= h.n && score <= h.worst {
		return
	}
	h.items = append(h.items, hypothesis{score: score, seq: slices.Clone(seq), lps: lps})
	if len(h.items) <= h.n {
		h.worst = min(score, h.worst)
		return
	}
	order := make([]int, len(h.items))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return h.items[order[a]].score < h.items[order[b]].score })
	h.worst = h.items[order[1]].score
	h.items = slices.Delete(h.items, order[0], order[0]+1)
}

func (h *beamHyps) isDone(bestSum float64, curLen int) bool {
	if len(h.items) < h.n {
		return false
	}
	var highest float64
	switch h.early {
	case "true":
		return true
	case "never":
		if h.lengthPenalty > 0 {
			highest = bestSum / math.Pow(float64(h.maxLen), h.lengthPenalty)
		} else {
			highest = bestSum / math.Pow(float64(curLen), h.lengthPenalty)
		}
	default:
		highest = bestSum / math.Pow(float64(curLen), h.lengthPenalty)
	}
	return h.worst >= highest
}

// best returns the top hypothesis; on equal scores the later one wins, as
// with Python's stable sort followed by pop().
func (h *beamHyps) best() hypothesis {
	bi := 0
	for i, it := range h.items {
		if it.score >= h.items[bi].score {
			bi = i
		}
	}
	return h.items[bi]
}

// processScores applies no_repeat_ngram_size, bad_words_ids, min_length and
// CaptionAI's own bans (words without visual evidence, repeated words) by
// setting banned tokens to -Inf.
func processScores(g *GenerationConfig, seq []int64, scores []float64) {
	ban := func(t int64) {
		if t >= 0 && t < int64(len(scores)) {
			scores[t] = math.Inf(-1)
		}
	}
	if n := g.NoRepeatNgramSize; n > 0 && len(seq)+1 >= n {
		prefix := seq[len(seq)+1-n:]
		for i := 0; i+n <= len(seq); i++ {
			if slices.Equal(seq[i:i+n-1], prefix) {
				ban(seq[i+n-1])
			}
		}
	}
	for _, bw := range g.BadWordsIDs {
		switch {
		case len(bw) == 0:
		case len(bw) == 1 && g.isEOS(bw[0]):
			// transformers drops [eos] from bad_words_ids.
		case len(bw) == 1:
			ban(bw[0])
		case len(seq) >= len(bw)-1 && slices.Equal(seq[len(seq)-len(bw)+1:], bw[:len(bw)-1]):
			ban(bw[len(bw)-1])
		}
	}
	if len(seq) < g.MinLength {
		for _, e := range g.EOSTokenIDs {
			ban(e)
		}
	}
	for _, t := range g.Banned {
		ban(t)
	}
	for t, c := range g.Penalty {
		if t >= 0 && t < int64(len(scores)) {
			scores[t] += c
		}
	}
	if g.NoRepeatWords {
		for _, t := range seq[1:] {
			if !g.RepeatExempt[t] {
				ban(t)
			}
		}
	}
}

func toFloat64(dst []float64, src []float32) []float64 {
	dst = slices.Grow(dst[:0], len(src))[:len(src)]
	for i, v := range src {
		dst[i] = float64(v)
	}
	return dst
}

func logSoftmax(x []float64) {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, v)
	}
	sum := 0.0
	for _, v := range x {
		sum += math.Exp(v - m)
	}
	lse := m + math.Log(sum)
	for i := range x {
		x[i] -= lse
	}
}

func argmax[T float32 | float64](x []T) int {
	bi := 0
	for i, v := range x {
		if v > x[bi] {
			bi = i
		}
	}
	return bi
}
