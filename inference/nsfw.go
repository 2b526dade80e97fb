package inference

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"

	ort "github.com/yalue/onnxruntime_go"
)

// NSFWClasses are the classifier's outputs in order: nsfwjs's NSFW_CLASSES,
// and the order of images.nsfw_scores.
var NSFWClasses = [5]string{"drawing", "hentai", "neutral", "porn", "sexy"}

// Indexes into NSFWScores.
const (
	NSFWDrawing = iota
	NSFWHentai
	NSFWNeutral
	NSFWPorn
	NSFWSexy
)

// NSFWScores are the five class probabilities, in NSFWClasses order; they
// sum to 1.
type NSFWScores [5]float32

// Explicit returns the likeliest of porn, sexy and hentai, the classes an
// upload is held for, and its probability.
func (s NSFWScores) Explicit() (class string, p float32) {
	best := NSFWPorn
	for _, i := range []int{NSFWSexy, NSFWHentai} {
		if s[i] > s[best] {
			best = i
		}
	}
	return NSFWClasses[best], s[best]
}

// NSFW is nsfwjs's MobileNetV2 NSFW classifier (models/nsfw-mobilenetv2,
// written by training/export_nsfw.py). It is safe for concurrent use; each
// call borrows one of its ONNX sessions.
type NSFW struct {
	size          int
	input, output string
	*sessions[*ort.DynamicAdvancedSession]
}

// nsfwConfig is the model folder's config.json.
type nsfwConfig struct {
	Classes []string `json:"classes"`
	Input   string   `json:"input"`
	Output  string   `json:"output"`
	Layout  string   `json:"layout"`
	Size    int      `json:"size"`
}

// OpenNSFW loads the classifier in dir (model.onnx, config.json) with
// sessions ONNX sessions of threads intra-op threads each (0: ORT's
// default). ONNX Runtime must be loaded already (InitRuntime, or Open with
// a LibPath). A missing dir gives an error that wraps os.ErrNotExist.
func OpenNSFW(dir string, sessions, threads int) (*NSFW, error) {
	dir = filepath.Clean(dir)
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("NSFW model directory: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("NSFW model directory %s is not a directory", dir)
	}
	var cfg nsfwConfig
	if _, err := readJSON(dir, "config.json", &cfg, true); err != nil {
		return nil, err
	}
	if !slices.Equal(cfg.Classes, NSFWClasses[:]) || cfg.Layout != "NCHW" || cfg.Size <= 0 || cfg.Input == "" || cfg.Output == "" {
		return nil, fmt.Errorf("%s: want classes %v, layout NCHW, a size, input and output names", filepath.Join(dir, "config.json"), NSFWClasses)
	}
	if !runtimeReady() {
		return nil, errors.New("inference: ONNX Runtime is not loaded; call InitRuntime first")
	}
	path := filepath.Join(dir, "model.onnx")
	ins, outs, err := ioInfo(path)
	if err != nil {
		return nil, err
	}
	want := ort.Shape{-1, 3, int64(cfg.Size), int64(cfg.Size)}
	if len(ins) != 1 || ins[0].Name != cfg.Input || !slices.Equal(ins[0].Dimensions, want) ||
		len(outs) != 1 || outs[0].Name != cfg.Output || !slices.Equal(outs[0].Dimensions, ort.Shape{-1, 5}) {
		return nil, fmt.Errorf("inference: %s must map %s %v to %s [batch 5], has %v -> %v", path, cfg.Input, want, cfg.Output, ins, outs)
	}
	so, err := newSessionOptions(threads, false)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	n := &NSFW{size: cfg.Size, input: cfg.Input, output: cfg.Output}
	n.sessions, err = newSessions(sessions, func() (*ort.DynamicAdvancedSession, error) {
		s, err := ort.NewDynamicAdvancedSession(path, []string{cfg.Input}, []string{cfg.Output}, so)
		if err != nil {
			return nil, fmt.Errorf("inference: loading %s: %w", path, err)
		}
		return s, nil
	}, (*ort.DynamicAdvancedSession).Destroy)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Classify returns the class probabilities of img, preprocessed as nsfwjs
// does. It waits for a free session or for ctx.
func (n *NSFW) Classify(ctx context.Context, img image.Image) (NSFWScores, error) {
	var scores NSFWScores
	if img == nil || img.Bounds().Empty() {
		return scores, errors.New("inference: no pixels to classify")
	}
	px := n.Preprocess(img)
	s, run, release, err := n.acquire(ctx)
	if err != nil {
		return scores, err
	}
	defer release()
	in, err := ort.NewTensor(ort.NewShape(1, 3, int64(n.size), int64(n.size)), px)
	if err != nil {
		return scores, err
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(1, 5))
	if err != nil {
		return scores, err
	}
	defer out.Destroy()
	if err := s.RunWithOptions([]ort.Value{in}, []ort.Value{out}, run); err != nil {
		return scores, ctxErr(ctx, fmt.Errorf("inference: NSFW classifier: %w", err))
	}
	copy(scores[:], out.GetData())
	return scores, nil
}

// Preprocess returns the classifier's pixel_values for img (CHW float32).
func (n *NSFW) Preprocess(img image.Image) []float32 { return nsfwPixels(img, n.size) }

// Close waits for running classifications to finish and frees all sessions.
func (n *NSFW) Close() error { return n.close() }

// unitRGB[v] is v/255 as tfjs holds it: a float32.
var unitRGB = func() (t [256]float64) {
	for v := range t {
		t[v] = float64(float32(float64(v) / 255))
	}
	return t
}()

// nsfwPixels is nsfwjs 4.4.0's preprocessing (NSFWJS.infer): RGB / 255 in
// float32, then tf.image.resizeBilinear to size×size with alignCorners,
// computed as tfjs's CPU kernel does (float64 arithmetic on the float32
// values, float32 results). CHW. Only the rows the resize samples are
// converted to RGB, two at a time.
func nsfwPixels(img image.Image, size int) []float32 {
	b := img.Bounds()
	w := b.Dx()
	xs, ys := alignCorners(w, size), alignCorners(b.Dy(), size)
	convert := rgbRows(img)
	bufs := [2][]uint8{make([]uint8, 3*w), make([]uint8, 3*w)}
	have := [2]int{-1, -1}
	// Rows are asked for in increasing order, so the older one is dropped.
	row := func(y int) []uint8 {
		for i := range have {
			if have[i] == y {
				return bufs[i]
			}
		}
		i := 0
		if have[1] < have[0] {
			i = 1
		}
		convert(y, bufs[i])
		have[i] = y
		return bufs[i]
	}
	plane := size * size
	out := make([]float32, 3*plane)
	for oy, sy := range ys {
		top, bot := row(sy.lo), row(sy.hi)
		for ox, sx := range xs {
			for c := 0; c < 3; c++ {
				tl, tr := unitRGB[top[3*sx.lo+c]], unitRGB[top[3*sx.hi+c]]
				bl, br := unitRGB[bot[3*sx.lo+c]], unitRGB[bot[3*sx.hi+c]]
				// The float64 conversions keep the compiler from fusing
				// multiply-adds, which would round differently from tfjs.
				t := tl + float64((tr-tl)*sx.frac)
				u := bl + float64((br-bl)*sx.frac)
				out[c*plane+oy*size+ox] = float32(t + float64((u-t)*sy.frac))
			}
		}
	}
	return out
}

// sample is where one output pixel of a bilinear resize reads on one axis.
type sample struct {
	lo, hi int
	frac   float64
}

// alignCorners maps out positions onto in source pixels as
// tf.image.resizeBilinear with alignCorners (and no half-pixel centers).
func alignCorners(in, out int) []sample {
	ratio := float64(in) / float64(out)
	if out > 1 {
		ratio = float64(in-1) / float64(out-1)
	}
	s := make([]sample, out)
	for i := range s {
		src := ratio * float64(i)
		lo := int(math.Floor(src))
		s[i] = sample{lo: lo, hi: min(int(math.Ceil(src)), in-1), frac: src - float64(lo)}
	}
	return s
}
