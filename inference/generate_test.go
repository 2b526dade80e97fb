package inference

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestProcessScores(t *testing.T) {
	t.Parallel()
	inf := math.Inf(-1)
	cases := []struct {
		name   string
		g      GenerationConfig
		seq    []int64
		banned []int
	}{
		{"no repeat bigram", GenerationConfig{NoRepeatNgramSize: 2}, []int64{1, 2, 3, 1}, []int{2}},
		{"no repeat trigram", GenerationConfig{NoRepeatNgramSize: 3}, []int64{5, 1, 2, 4, 1, 2}, []int{4}},
		{"too short for the ngram", GenerationConfig{NoRepeatNgramSize: 3}, []int64{1}, nil},
		{"bad words", GenerationConfig{BadWordsIDs: [][]int64{{4}, {3, 1}, {2, 3, 0}, {5}}, EOSTokenIDs: []int64{5}}, []int64{2, 3}, []int{0, 1, 4}},
		{"min length bans eos", GenerationConfig{MinLength: 3, EOSTokenIDs: []int64{5}}, []int64{0, 1}, []int{5}},
		{"banned words", GenerationConfig{Banned: []int64{2, 4}}, []int64{0}, []int{2, 4}},
		// The start token (0) may come back; exempt words (3) may repeat.
		{"no repeated words", GenerationConfig{NoRepeatWords: true, RepeatExempt: map[int64]bool{3: true}}, []int64{0, 3, 4, 1}, []int{1, 4}},
	}
	for _, c := range cases {
		scores := []float64{1, 2, 3, 4, 5, 6}
		processScores(&c.g, c.seq, scores)
		for i, s := range scores {
			isBanned := false
			for _, b := range c.banned {
				isBanned = isBanned || b == i
			}
			if isBanned != (s == inf) {
				t.Errorf("%s: scores %v, want banned %v", c.name, scores, c.banned)
				break
			}
		}
	}
}

func TestBeamHypotheses(t *testing.T) {
	t.Parallel()
	h := beamHyps{n: 2, lengthPenalty: 1, early: "false", maxLen: 10, worst: 1e9}
	h.add([]int64{0, 1}, []float64{-2}, -2)        // score -1
	h.add([]int64{0, 1, 2}, []float64{-4, -5}, -9) // -3
	h.add([]int64{0, 2}, []float64{-4}, -4)        // -2 replaces -3
	h.add([]int64{0, 3}, []float64{-8}, -8)        // -4 is worse than the worst kept
	if len(h.items) != 2 || h.worst != -2 {
		t.Fatalf("items %+v worst %g", h.items, h.worst)
	}
	if b := h.best(); b.score != -1 || len(b.seq) != 2 || b.seq[1] != 1 || len(b.lps) != 1 || b.lps[0] != -2 {
		t.Fatalf("best %+v", b)
	}
	// Heuristic stop: the best live beam (-5 over 3 tokens) cannot beat -2.
	if !h.isDone(-7, 3) || h.isDone(-3, 3) {
		t.Fatal("isDone heuristic")
	}
}

// BenchmarkCaption reports per-image encoder, decoder and total time on the
// tiny model, for the generation_config.json settings (beam search) and greedy.
func BenchmarkCaption(b *testing.B) {
	ref := loadReference(b)
	for _, beams := range []int{0, 1} {
		name := "config"
		if beams == 1 {
			name = "greedy"
		}
		b.Run(name, func(b *testing.B) {
			m := openTiny(b, Options{NumBeams: beams, Threads: 1})
			img := ref.Images[0].load(b)
			ctx := context.Background()
			var enc, dec, total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res, err := m.Caption(ctx, img)
				if err != nil {
					b.Fatal(err)
				}
				enc += res.Encode
				dec += res.Decode
				total += res.Total
			}
			ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 / float64(b.N) }
			b.ReportMetric(ms(enc), "encode-ms/op")
			b.ReportMetric(ms(dec), "decode-ms/op")
			b.ReportMetric(ms(total), "total-ms/op")
		})
	}
}
