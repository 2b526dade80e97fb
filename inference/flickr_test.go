package inference_test

import (
	"bufio"
	"context"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"captionai/config"
	"captionai/imagefile"
	"captionai/inference"
	"captionai/testutil"
)

// defaultModelName is the folder under models/ of the model the app ships as its default.
const defaultModelName = "captionai"

// defaultModel is the model the app ships as its default.
func defaultModel(t testing.TB, sessions int) *inference.Model {
	t.Helper()
	if err := inference.InitRuntime(testutil.ORTLib(t)); err != nil {
		t.Fatal(err)
	}
	m, err := inference.Open(inference.Options{Dir: filepath.Join(testutil.RepoRoot(t), "models", defaultModelName),
		Sessions: sessions, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// flickr8k is the dataset folder: FLICKR8K_DIR, or ../shared/datasets
// beside the checkout. Tests that need it skip when it is absent.
func flickr8k(t testing.TB) string {
	dir := config.Test().Flickr8kDir
	if dir == "" {
		dir = filepath.Join(testutil.RepoRoot(t), "..", "shared", "datasets", "flickr8k")
	}
	if _, err := os.Stat(filepath.Join(dir, "captions.tsv")); err != nil {
		t.Skipf("Flickr8k not found at %s (set FLICKR8K_DIR)", dir)
	}
	return dir
}

func readLines(t testing.TB, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// testSplit returns the test images in order and their reference captions.
func testSplit(t testing.TB, dir string) ([]string, map[string][]string) {
	refs := map[string][]string{}
	for _, l := range readLines(t, filepath.Join(dir, "captions.tsv")) {
		name, caption, _ := strings.Cut(l, "\t")
		refs[name] = append(refs[name], strings.ToLower(caption))
	}
	names := readLines(t, filepath.Join(dir, "splits", "test.txt"))
	return names, refs
}

// hasWord reports whether s holds the word w or its plural ("dogs" names a dog).
func hasWord(s, w string) bool {
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z')
	})
	return slices.Contains(words, w) || slices.Contains(words, w+"s")
}

func load(t testing.TB, path string) image.Image {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := imagefile.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Photos whose five references all name a thing should get a caption that
// names it too. The shipped model does not do so every time, so this guards
// what it does reach: 16 of 18 for models/captionai with its per-class
// detector thresholds (2026-12-03; 14 with one threshold for all classes, the
// frozen-backbone model before it 15, the Flickr8k-only
// captionai-flickr8k 14: dog 6/6, snow 5/6, water 3/6, its misses "a snowy
// hill", "beach" and "pool": the word must match exactly), less two spare
// for float differences between CPUs.
// A worse model fails; raise minHits when a better one ships.
func TestDefaultModelNamesWhatIsThere(t *testing.T) {
	const minHits = 14
	dir := flickr8k(t)
	m := defaultModel(t, 1)
	names, refs := testSplit(t, dir)
	hits, total := 0, 0
	for _, word := range []string{"dog", "snow", "water"} {
		var picked []string
		for _, n := range names {
			all := len(refs[n]) == 5
			for _, r := range refs[n] {
				all = all && hasWord(r, word)
			}
			if all {
				picked = append(picked, n)
			}
			if len(picked) == 6 {
				break
			}
		}
		if len(picked) < 3 {
			t.Fatalf("only %d test photos all say %q", len(picked), word)
		}
		for _, n := range picked {
			res, err := m.Caption(context.Background(), load(t, filepath.Join(dir, "images", n)))
			if err != nil {
				t.Fatal(err)
			}
			total++
			if hasWord(res.Text, word) {
				hits++
			} else {
				t.Logf("%s: every reference says %q, the caption %q does not", n, word, res.Text)
			}
		}
	}
	t.Logf("%d of %d captions name what all references name", hits, total)
	if hits < minHits {
		t.Fatalf("%d of %d captions name the thing every reference names; the shipped model reached %d", hits, total, minHits)
	}
}

func percentile(d []time.Duration, p float64) float64 {
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[int(p*float64(len(s)-1))]) / float64(time.Millisecond)
}

// benchImages are up to 50 test-split photos, or one synthetic image
// without the dataset.
func benchImages(b *testing.B) []image.Image {
	dir := config.Test().Flickr8kDir
	if dir == "" {
		dir = filepath.Join(testutil.RepoRoot(b), "..", "shared", "datasets", "flickr8k")
	}
	if _, err := os.Stat(filepath.Join(dir, "splits", "test.txt")); err != nil {
		return []image.Image{image.NewRGBA(image.Rect(0, 0, 256, 192))}
	}
	var imgs []image.Image
	for _, n := range readLines(b, filepath.Join(dir, "splits", "test.txt"))[:50] {
		imgs = append(imgs, load(b, filepath.Join(dir, "images", n)))
	}
	return imgs
}

// BenchmarkDefaultModel reports the shipped model's per-image latency
// (p50 and p95; preprocessing, encoder, decoder) on one session, and its
// throughput with a session per CPU all busy.
func BenchmarkDefaultModel(b *testing.B) {
	imgs := benchImages(b)
	b.Run("latency", func(b *testing.B) {
		m := defaultModel(b, 1)
		var enc, dec, total []time.Duration
		i := 0
		for b.Loop() {
			res, err := m.Caption(context.Background(), imgs[i%len(imgs)])
			if err != nil {
				b.Fatal(err)
			}
			enc, dec, total = append(enc, res.Encode), append(dec, res.Decode), append(total, res.Total)
			i++
		}
		b.ReportMetric(percentile(total, .5), "p50-ms")
		b.ReportMetric(percentile(total, .95), "p95-ms")
		b.ReportMetric(percentile(enc, .5), "enc-p50-ms")
		b.ReportMetric(percentile(enc, .95), "enc-p95-ms")
		b.ReportMetric(percentile(dec, .5), "dec-p50-ms")
		b.ReportMetric(percentile(dec, .95), "dec-p95-ms")
	})
	b.Run("throughput", func(b *testing.B) {
		workers := runtime.NumCPU()
		m := defaultModel(b, workers)
		jobs := make(chan image.Image)
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for img := range jobs {
					if _, err := m.Caption(context.Background(), img); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		for i := 0; b.Loop(); i++ {
			jobs <- imgs[i%len(imgs)]
		}
		close(jobs)
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "images/s")
	})
}
