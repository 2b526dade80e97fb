package inference_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"captionai/config"
	"captionai/testutil"
)

// cocoMini is the coco-mini dataset folder, or a skip without it.
func cocoMini(t testing.TB) string {
	dir := config.Test().CocoMiniDir
	if dir == "" {
		dir = filepath.Join(testutil.RepoRoot(t), "..", "shared", "datasets", "coco-mini")
	}
	if _, err := os.Stat(filepath.Join(dir, "captions.tsv")); err != nil {
		t.Skipf("coco-mini not found at %s (set COCO_MINI_DIR)", dir)
	}
	return dir
}

// Photos of everyday objects outside Flickr8k's world: on coco-mini's dev
// split, where at least 3 of an image's 5 references name the same COCO
// object (a giraffe, a laptop, a cat), the caption must name it too, with
// any of the words the model's config.json lists for that object. Cats must
// be cats. The model of 2026-12-02 (third) names 23 of 58 with its
// per-class detector thresholds of 2026-12-03 (less two spare for float
// differences between CPUs). With one threshold for all it named 27, but
// lost far more true words on Flickr8k (test CIDEr-D 0.406 against 0.449,
// subject named 0.64 against 0.74) and hallucinated more (CHAIR-s 0.112
// against 0.056): the fitted thresholds of tennis racket, bench and cell
// phone are higher, since the model names them falsely so often in its
// captions of the training photos (and "surf board" is two words here). The
// frozen-backbone model named 24; the Flickr8k-only captionai-flickr8k 7 of
// 73 by training/eval/grounding.py's looser count, which the frozen one put
// at 22.
// A worse model fails; raise minHits when a better one ships.
func TestDefaultModelNamesCOCOObjects(t *testing.T) {
	const minHits = 21
	dir := cocoMini(t)
	m := defaultModel(t, 1)
	var cfg struct {
		CaptionAI struct {
			Detector struct {
				Labels []string `json:"labels"`
			} `json:"detector"`
			Words map[string]int `json:"words"`
		} `json:"captionai"`
	}
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "models", defaultModelName, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	words, labels := cfg.CaptionAI.Words, cfg.CaptionAI.Detector.Labels
	if len(labels) == 0 {
		t.Fatal("the default model's config.json names no detector classes")
	}
	// The classes a caption names, by its words and the two-word class names.
	classes := func(s string) map[int]bool {
		out := map[int]bool{}
		ws := strings.Fields(strings.ToLower(s))
		for i, w := range ws {
			if c, ok := words[w]; ok {
				out[c] = true
			}
			for c, l := range labels {
				if l == w || (i+1 < len(ws) && l == w+" "+ws[i+1]) {
					out[c] = true
				}
			}
		}
		return out
	}
	refs := map[string][]string{}
	for _, l := range readLines(t, filepath.Join(dir, "captions.tsv")) {
		name, caption, _ := strings.Cut(l, "\t")
		refs[name] = append(refs[name], caption)
	}
	hits, total := 0, 0
	for _, n := range readLines(t, filepath.Join(dir, "splits", "dev.txt")) {
		count := map[int]int{}
		for _, r := range refs[n] {
			for c := range classes(r) {
				count[c]++
			}
		}
		var want []int
		for c, k := range count {
			if k >= 3 && labels[c] != "person" {
				want = append(want, c)
			}
		}
		if len(want) == 0 {
			continue
		}
		res, err := m.Caption(context.Background(), load(t, filepath.Join(dir, "images", n)))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.DetectorScores) != len(labels) {
			t.Fatalf("%s: %d detector scores for %d classes", n, len(res.DetectorScores), len(labels))
		}
		got := classes(res.ModelText)
		for _, c := range want {
			total++
			if got[c] {
				hits++
			} else {
				t.Logf("%s: most references name a %s, the caption %q does not", n, labels[c], res.ModelText)
			}
		}
	}
	t.Logf("%d of %d objects that most references name are named", hits, total)
	if hits < minHits {
		t.Fatalf("%d of %d objects named; the shipped model reached %d", hits, total, minHits)
	}
}
