package inference_test

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"captionai/config"
	"captionai/imagefile"
	"captionai/inference"
	"captionai/testutil"
)

var nsfwAll = flag.Bool("nsfw.all", false, "TestNSFWFlickr8k: score all 8,091 Flickr8k photos, not 200 of the test split")

func openNSFW(t testing.TB, sessions int) *inference.NSFW {
	t.Helper()
	if err := inference.InitRuntime(testutil.ORTLib(t)); err != nil {
		t.Fatal(err)
	}
	n, err := inference.OpenNSFW(filepath.Join(testutil.RepoRoot(t), "models", "nsfw-mobilenetv2"), sessions, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// nsfwReference is testdata/nsfw_reference.json, written by
// training/export_nsfw.py from the PyTorch module that model.onnx came from
// (itself checked against nsfwjs by training/backbone/check_nsfw.js).
type nsfwReference struct {
	Images []struct {
		Image        string    `json:"image"`
		Probs        []float32 `json:"probs"`
		PixelsSHA256 string    `json:"pixels_sha256"`
	} `json:"images"`
	Flickr8kTest []struct {
		Image string    `json:"image"`
		Probs []float32 `json:"probs"`
	} `json:"flickr8k_test"`
}

func loadNSFWReference(t *testing.T) nsfwReference {
	b, err := os.ReadFile("testdata/nsfw_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref nsfwReference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Images) == 0 || len(ref.Flickr8kTest) == 0 {
		t.Fatal("nsfw_reference.json lists no images")
	}
	return ref
}

func openFile(t testing.TB, path string) *os.File {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func maxDiff(a inference.NSFWScores, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func checkSum(t *testing.T, name string, s inference.NSFWScores) {
	sum := 0.0
	for _, p := range s {
		if p < 0 || p > 1 {
			t.Errorf("%s: probability %v out of [0, 1]", name, p)
		}
		sum += float64(p)
	}
	if math.Abs(sum-1) > 1e-5 {
		t.Errorf("%s: scores %v sum to %v", name, s, sum)
	}
}

// The Go classifier gives Python's probabilities: the same pixels (bit for
// bit for PNGs, whose pixels both sides read exactly) and the same network.
func TestNSFWMatchesReference(t *testing.T) {
	n := openNSFW(t, 1)
	root := testutil.RepoRoot(t)
	for _, r := range loadNSFWReference(t).Images {
		img, err := imagefile.Decode(openFile(t, filepath.Join(root, r.Image)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := n.Classify(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		checkSum(t, r.Image, got)
		// A JPEG's pixels differ by the decoders' IDCT rounding (a level or two).
		tol := 1e-5
		if strings.HasSuffix(r.Image, ".png") {
			px := n.Preprocess(img)
			b := make([]byte, 4*len(px))
			for i, v := range px {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			}
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != r.PixelsSHA256 {
				t.Errorf("%s: pixel_values differ from export_nsfw.py's", r.Image)
			}
		} else {
			tol = 2e-3
		}
		d := maxDiff(got, r.Probs)
		t.Logf("%s: %v, max |diff| %.2g", r.Image, got, d)
		if d > tol {
			t.Errorf("%s: scores %v, Python %v (max |diff| %.3g > %g)", r.Image, got, r.Probs, d, tol)
		}
	}
}

func TestNSFWExplicit(t *testing.T) {
	for _, c := range []struct {
		s     inference.NSFWScores
		class string
		p     float32
	}{
		{inference.NSFWScores{0.1, 0.2, 0.3, 0.25, 0.15}, "porn", 0.25},
		{inference.NSFWScores{0.1, 0.2, 0.3, 0.15, 0.25}, "sexy", 0.25},
		{inference.NSFWScores{0.1, 0.3, 0.4, 0.15, 0.05}, "hentai", 0.3},
		{inference.NSFWScores{0.9, 0, 0.1, 0, 0}, "porn", 0},
	} {
		if class, p := c.s.Explicit(); class != c.class || p != c.p {
			t.Errorf("%v: %s %v, want %s %v", c.s, class, p, c.class, c.p)
		}
	}
}

func TestNSFWClosed(t *testing.T) {
	n := openNSFW(t, 1)
	img, err := imagefile.Decode(openFile(t, "testdata/chroma420.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.Classify(ctx, img); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	n.Close()
	if _, err := n.Classify(context.Background(), img); !errors.Is(err, inference.ErrClosed) {
		t.Errorf("closed: %v", err)
	}
	if _, err := inference.OpenNSFW(t.TempDir()+"/none", 1, 1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
}

// On ordinary photos neutral wins and the default NSFW_HOLD holds none of
// 200 test photos (all 8,091 with -nsfw.all); the score distribution and
// the classifier's latency (one session, one thread) are logged.
func TestNSFWFlickr8k(t *testing.T) {
	dir := flickr8k(t)
	n := openNSFW(t, 1)
	hold := config.Defaults().NSFWHold
	names, _ := testSplit(t, dir)
	if *nsfwAll {
		entries, err := os.ReadDir(filepath.Join(dir, "images"))
		if err != nil {
			t.Fatal(err)
		}
		names = names[:0]
		for _, e := range entries {
			names = append(names, e.Name())
		}
	} else {
		names = names[:200]
	}
	want := map[string][]float32{}
	for _, r := range loadNSFWReference(t).Flickr8kTest {
		want[r.Image] = r.Probs
	}

	type scored struct {
		name, class string
		p           float64
	}
	var explicit []float64
	var top []scored
	var took []time.Duration
	neutral, held, checked := 0, 0, 0
	for _, name := range names {
		img, err := imagefile.Decode(openFile(t, filepath.Join(dir, "images", name)))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		s, err := n.Classify(context.Background(), img)
		took = append(took, time.Since(start))
		if err != nil {
			t.Fatal(err)
		}
		checkSum(t, name, s)
		if slices.Index(s[:], slices.Max(s[:])) == inference.NSFWNeutral {
			neutral++
		}
		class, p := s.Explicit()
		explicit = append(explicit, float64(p))
		top = append(top, scored{name, class, float64(p)})
		if float64(p) >= hold {
			held++
			t.Errorf("%s is held: %s %.3f ≥ NSFW_HOLD %g (%v)", name, class, p, hold, s)
		}
		if r, ok := want[name]; ok {
			checked++
			// Go's JPEG decoder differs from libjpeg (through PIL) by IDCT rounding.
			if d := maxDiff(s, r); d > 0.02 {
				t.Errorf("%s: scores %v, Python %v (max |diff| %.3g)", name, s, r, d)
			}
		}
	}
	if checked != len(want) && !*nsfwAll {
		t.Errorf("compared %d of the reference's %d photos", checked, len(want))
	}
	if neutral < len(names)*9/10 {
		t.Errorf("neutral is the likeliest class of %d of %d ordinary photos", neutral, len(names))
	}

	slices.Sort(explicit)
	pct := func(q float64) float64 { return explicit[min(int(q*float64(len(explicit))), len(explicit)-1)] }
	over := func(x float64) int {
		i, _ := slices.BinarySearch(explicit, x)
		return len(explicit) - i
	}
	t.Logf("%d photos: neutral likeliest in %d; max(porn, sexy, hentai) p50 %.4f p90 %.4f p99 %.4f p99.9 %.4f max %.4f; "+
		"≥0.5: %d, ≥0.8: %d, ≥0.9: %d; held at NSFW_HOLD %g: %d",
		len(names), neutral, pct(0.5), pct(0.9), pct(0.99), pct(0.999), explicit[len(explicit)-1],
		over(0.5), over(0.8), over(0.9), hold, held)
	slices.SortFunc(top, func(a, b scored) int { return cmp.Compare(b.p, a.p) })
	t.Logf("highest: %v", top[:3])
	slices.Sort(took)
	t.Logf("Classify (preprocessing + network, 1 thread): p50 %v, p95 %v", took[len(took)/2].Round(10*time.Microsecond),
		took[len(took)*95/100].Round(10*time.Microsecond))
}

func BenchmarkNSFWClassify(b *testing.B) {
	n := openNSFW(b, 1)
	img, err := imagefile.Decode(openFile(b, filepath.Join(testutil.RepoRoot(b), "inference", "testdata", "nsfw_pattern.png")))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := n.Classify(context.Background(), img); err != nil {
			b.Fatal(err)
		}
	}
}
