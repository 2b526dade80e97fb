package inference

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

func TestInitRuntimeTwice(t *testing.T) {
	t.Parallel()
	lib := ortLib(t)
	for i := 0; i < 2; i++ {
		if err := InitRuntime(lib); err != nil {
			t.Fatal(err)
		}
	}
	if err := InitRuntime(""); err != nil {
		t.Fatalf("empty path after init: %v", err)
	}
	if err := InitRuntime("/nonexistent/libonnxruntime.so"); err == nil {
		t.Fatal("switching library path after init should fail")
	}
}

func TestEncoderTensorNames(t *testing.T) {
	t.Parallel()
	ref := loadReference(t)
	if err := InitRuntime(ortLib(t)); err != nil {
		t.Fatal(err)
	}
	ins, outs, err := ort.GetInputOutputInfo(filepath.Join(tinyDir, "onnx", "encoder_model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || ins[0].Name != "pixel_values" || ins[0].DataType != ort.TensorElementDataTypeFloat || len(ins[0].Dimensions) != 4 {
		t.Fatalf("encoder inputs = %v, want pixel_values float [batch,3,H,W]", ins)
	}
	if len(outs) != 1 || outs[0].Name != "last_hidden_state" || outs[0].DataType != ort.TensorElementDataTypeFloat {
		t.Fatalf("encoder outputs = %v, want last_hidden_state float", outs)
	}
	if d := outs[0].Dimensions; len(d) != 3 || d[2] != ref.Hidden {
		t.Fatalf("last_hidden_state dims %v, want [batch, seq, %d]", d, ref.Hidden)
	}

	m := openTiny(t, Options{})
	data, shape, err := m.Encode(context.Background(), ref.Images[0].pixels(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, ref.EncSeq, ref.Hidden}; !slices.Equal(shape, want) || len(data) != int(ref.EncSeq*ref.Hidden) {
		t.Fatalf("encoder output shape %v (%d values), want %v", shape, len(data), want)
	}
}

func TestMergedDecoderTensorNames(t *testing.T) {
	t.Parallel()
	ref := loadReference(t)
	if err := InitRuntime(ortLib(t)); err != nil {
		t.Fatal(err)
	}
	ins, outs, err := ort.GetInputOutputInfo(filepath.Join(tinyDir, "onnx", "decoder_model_merged.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		name string
		typ  ort.TensorElementDataType
		dims []int64 // -1: dynamic
	}
	pastDims := []int64{-1, ref.NumHeads, -1, ref.HeadDim}
	wantIn := []want{
		{"input_ids", ort.TensorElementDataTypeInt64, []int64{-1, -1}},
		{"encoder_hidden_states", ort.TensorElementDataTypeFloat, []int64{-1, -1, ref.Hidden}},
	}
	wantOut := []want{{"logits", ort.TensorElementDataTypeFloat, []int64{-1, -1, ref.VocabSize}}}
	for i := 0; i < ref.NumLayers; i++ {
		for _, kv := range []string{"key", "value"} {
			wantIn = append(wantIn, want{"past_key_values." + itoa(i) + "." + kv, ort.TensorElementDataTypeFloat, pastDims})
			wantOut = append(wantOut, want{"present." + itoa(i) + "." + kv, ort.TensorElementDataTypeFloat, pastDims})
		}
	}
	wantIn = append(wantIn, want{"use_cache_branch", ort.TensorElementDataTypeBool, []int64{1}})
	check := func(kind string, got []ort.InputOutputInfo, want []want) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: got %d tensors %v, want %d", kind, len(got), got, len(want))
		}
		for i, w := range want {
			g := got[i]
			if g.Name != w.name || g.DataType != w.typ || len(g.Dimensions) != len(w.dims) {
				t.Errorf("%s %d: got %v, want %s %v %v", kind, i, &g, w.name, w.typ, w.dims)
				continue
			}
			for j, d := range w.dims {
				if (d == -1 && g.Dimensions[j] > 0) || (d != -1 && g.Dimensions[j] != d) {
					t.Errorf("%s %s: dims %v, want %v (-1 = dynamic)", kind, w.name, g.Dimensions, w.dims)
					break
				}
			}
		}
	}
	check("input", ins, wantIn)
	check("output", outs, wantOut)

	m := openTiny(t, Options{})
	if !m.UsesKVCache() || !m.dec.merged || len(m.dec.pasts) != 2*ref.NumLayers {
		t.Fatalf("Open did not pick the merged decoder with %d pasts: %+v", 2*ref.NumLayers, m.dec)
	}
	for _, p := range m.dec.pasts {
		if p.heads != ref.NumHeads || p.headDim != ref.HeadDim || p.cross {
			t.Errorf("past %+v, want heads %d head_dim %d", p, ref.NumHeads, ref.HeadDim)
		}
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

// collectSteps records decoder calls, copying the logits.
func collectSteps(g *GenerationConfig) *[]StepInfo {
	var steps []StepInfo
	g.OnStep = func(s StepInfo) {
		s.Logits = slices.Clone(s.Logits)
		steps = append(steps, s)
	}
	return &steps
}

func TestKVCacheReuseMatchesPlainDecoder(t *testing.T) {
	t.Parallel()
	ref := loadReference(t)
	merged := openTiny(t, Options{Decoder: DecoderMerged})
	plain := openTiny(t, Options{Decoder: DecoderPlain})
	if plain.UsesKVCache() {
		t.Fatal("plain decoder should not use a KV cache")
	}
	ctx := context.Background()
	for _, ri := range ref.Images {
		for _, beams := range []int{1, ref.NumBeams} {
			gm, gp := merged.Generation(), plain.Generation()
			gm.NumBeams, gp.NumBeams = beams, beams
			mSteps, pSteps := collectSteps(&gm), collectSteps(&gp)
			mRes, err := merged.Generate(ctx, ri.pixels(t), gm)
			if err != nil {
				t.Fatal(err)
			}
			pRes, err := plain.Generate(ctx, ri.pixels(t), gp)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(mRes.TokenIDs, pRes.TokenIDs) {
				t.Fatalf("%s beams=%d: merged %v != plain %v", ri.Image, beams, mRes.TokenIDs, pRes.TokenIDs)
			}
			if len(*mSteps) != len(*pSteps) || len(*mSteps) < 2 {
				t.Fatalf("%s beams=%d: %d merged steps, %d plain steps", ri.Image, beams, len(*mSteps), len(*pSteps))
			}
			for i, ms := range *mSteps {
				ps := (*pSteps)[i]
				if ms.Batch != beams || ps.Batch != beams {
					t.Fatalf("step %d: batch %d/%d, want %d", i, ms.Batch, ps.Batch, beams)
				}
				// The cache grows by one per step and only the new token is fed.
				if ms.InputLen != 1 || ms.PastLen != i || ms.PresentLen != i+1 || ms.UseCache != (i > 0) {
					t.Fatalf("%s beams=%d merged step %d: %+v", ri.Image, beams, i, ms.summary())
				}
				if ps.InputLen != i+1 || ps.PastLen != 0 || ps.PresentLen != 0 || ps.UseCache {
					t.Fatalf("%s beams=%d plain step %d: %+v", ri.Image, beams, i, ps.summary())
				}
				if d := maxAbsDiff(ms.Logits, ps.Logits); d > 1e-4 {
					t.Fatalf("%s beams=%d step %d: cached logits differ from full-sequence logits by %g", ri.Image, beams, i, d)
				}
			}
		}
	}
}

func (s StepInfo) summary() StepInfo {
	s.Logits = nil
	return s
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func TestDecodingMatchesReference(t *testing.T) {
	t.Parallel()
	ref := loadReference(t)
	for _, mode := range []DecoderMode{DecoderMerged, DecoderPlain} {
		m := openTiny(t, Options{Decoder: mode, Sessions: 2})
		g := m.Generation()
		if g.MaxLength != ref.MaxLength || g.NumBeams != ref.NumBeams || g.NoRepeatNgramSize != ref.NoRepeatNgram ||
			g.DecoderStartID != ref.DecoderStartID || !slices.Equal(g.EOSTokenIDs, []int64{ref.EOS}) || len(g.BadWordsIDs) != len(ref.BadWordsIDs) {
			t.Fatalf("generation config %+v does not match reference.json", g)
		}
		for _, ri := range ref.Images {
			for _, beams := range []int{1, ref.NumBeams} {
				t.Run(string(mode)+"/"+filepath.Base(ri.Image)+"/beams="+itoa(beams), func(t *testing.T) {
					t.Parallel()
					want := ri.Greedy
					if beams > 1 {
						want = ri.Beam
					}
					g := m.Generation()
					g.NumBeams = beams
					res, err := m.Generate(context.Background(), ri.pixels(t), g)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(res.TokenIDs, want.IDs) {
						t.Fatalf("ids %v, want %v", res.TokenIDs, want.IDs)
					}
					if res.Text != want.Text {
						t.Fatalf("text %q, want %q", res.Text, want.Text)
					}
				})
			}
		}
	}
	// The tiny model is built so these cases are meaningful.
	differ := false
	for _, ri := range ref.Images {
		differ = differ || !slices.Equal(ri.Greedy.IDs, ri.Beam.IDs)
		if len(ri.Greedy.IDs) < 3 {
			t.Errorf("%s: greedy stops at once: %v", ri.Image, ri.Greedy.IDs)
		}
	}
	if !differ {
		t.Error("reference greedy and beam results never differ")
	}
}

func TestEncoderMatchesReference(t *testing.T) {
	t.Parallel()
	ref := loadReference(t)
	m := openTiny(t, Options{})
	for _, ri := range ref.Images {
		data, shape, err := m.Encode(context.Background(), ri.pixels(t))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(shape, ri.Encoder.Shape) {
			t.Fatalf("%s: shape %v, want %v", ri.Image, shape, ri.Encoder.Shape)
		}
		sum, abs := 0.0, 0.0
		for _, v := range data {
			sum += float64(v)
			abs += math.Abs(float64(v))
		}
		if math.Abs(sum-ri.Encoder.Sum) > 1e-3 || math.Abs(abs-ri.Encoder.AbsSum) > 1e-3 {
			t.Errorf("%s: sum %g abs_sum %g, want %g %g", ri.Image, sum, abs, ri.Encoder.Sum, ri.Encoder.AbsSum)
		}
		for i, want := range ri.Encoder.First {
			if math.Abs(float64(data[i])-want) > 1e-4 {
				t.Errorf("%s: value %d = %g, want %g", ri.Image, i, data[i], want)
			}
		}
	}
}

func TestPreprocessMatchesReference(t *testing.T) {
	t.Parallel()
	ref := loadReference(t)
	m := openTiny(t, Options{})
	resized := 0
	for _, ri := range ref.Images {
		img := ri.load(t)
		if b := img.Bounds(); b.Dx() != ri.Width || b.Dy() != ri.Height {
			t.Fatalf("%s is %v, reference says %dx%d", ri.Image, b, ri.Width, ri.Height)
		}
		if ri.Width != int(ri.PixelShape[3]) {
			resized++
		}
		got := m.Preprocess(img)
		want := ri.pixels(t).Data
		// The resampler follows PIL's fixed-point arithmetic, so this is exact
		// up to float32 rounding.
		if d := maxAbsDiff(got, want); d > 1e-6 {
			t.Errorf("%s: pixel values differ from the Python preprocessing by up to %g", ri.Image, d)
		}
	}
	if resized == 0 {
		t.Error("no reference image exercises resizing")
	}
}

func TestResizeMatchesPIL(t *testing.T) {
	t.Parallel()
	ref := loadReference(t)
	if len(ref.ResizeChecks) == 0 {
		t.Fatal("reference.json has no resize checks")
	}
	for _, c := range ref.ResizeChecks {
		ri := refImage{Image: c.Image}
		rgb, w, h := toRGB(ri.load(t))
		got := resizeRGB(rgb, w, h, c.Width, c.Height, c.Resample)
		if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != c.SHA256 {
			t.Errorf("resample %d to %dx%d differs from PIL", c.Resample, c.Width, c.Height)
		}
	}
}

func TestCaption(t *testing.T) {
	t.Parallel()
	ref := loadReference(t)
	m := openTiny(t, Options{Sessions: 2})
	if m.Name() != "tiny-random" || m.Sessions() != 2 {
		t.Fatalf("Name() = %q, Sessions() = %d", m.Name(), m.Sessions())
	}
	for _, ri := range ref.Images {
		t.Run(filepath.Base(ri.Image), func(t *testing.T) {
			t.Parallel()
			res, err := m.Caption(context.Background(), ri.load(t))
			if err != nil {
				t.Fatal(err)
			}
			// generation_config.json asks for beam search.
			if !slices.Equal(res.TokenIDs, ri.Beam.IDs) || res.Text != ri.Beam.Text {
				t.Fatalf("caption %q %v, want %q %v", res.Text, res.TokenIDs, ri.Beam.Text, ri.Beam.IDs)
			}
			if res.Encode <= 0 || res.Decode <= 0 || res.Total < res.Encode+res.Decode {
				t.Fatalf("timings encode %v decode %v total %v", res.Encode, res.Decode, res.Total)
			}
		})
	}
}

func TestOptionsOverrideGeneration(t *testing.T) {
	t.Parallel()
	ref := loadReference(t)
	m := openTiny(t, Options{NumBeams: 1, MaxLength: 4})
	g := m.Generation()
	if g.NumBeams != 1 || g.MaxLength != 4 {
		t.Fatalf("generation %+v, want num_beams 1, max_length 4", g)
	}
	ri := ref.Images[len(ref.Images)-1]
	res, err := m.Caption(context.Background(), ri.load(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := ri.Greedy.IDs[:4]; !slices.Equal(res.TokenIDs, want) {
		t.Fatalf("ids %v, want greedy prefix %v", res.TokenIDs, want)
	}
}

func TestCaptionHonoursContext(t *testing.T) {
	t.Parallel()
	ref := loadReference(t)
	m := openTiny(t, Options{Sessions: 1})
	img := ref.Images[0].load(t)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Caption(ctx, img); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: err = %v", err)
	}

	// With the only session set taken, Caption waits until its deadline.
	_, _, release, err := m.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := m.Caption(ctx, img); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("busy pool: err = %v", err)
	}
	release()

	// Cancelling between decoder steps stops the search; the session set
	// goes back to the pool in a usable state.
	ctx, cancel3 := context.WithCancel(context.Background())
	defer cancel3()
	g := m.Generation()
	steps := 0
	g.OnStep = func(StepInfo) {
		steps++
		if steps == 2 {
			cancel3()
		}
	}
	if _, err := m.Generate(ctx, ref.Images[0].pixels(t), g); !errors.Is(err, context.Canceled) || steps != 2 {
		t.Fatalf("cancel mid-decode: err = %v after %d steps", err, steps)
	}
	res, err := m.Caption(context.Background(), img)
	if err != nil || !slices.Equal(res.TokenIDs, ref.Images[0].Beam.IDs) {
		t.Fatalf("after cancellations: %v %v", res.TokenIDs, err)
	}
	if _, err := m.Caption(context.Background(), nil); err == nil {
		t.Fatal("nil image: no error")
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	ref := loadReference(t)
	m, err := Open(Options{Dir: tinyDir, LibPath: ortLib(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := m.Caption(context.Background(), ref.Images[0].load(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Caption after Close: err = %v", err)
	}
}

// copyModel copies the tiny model into a temp dir without the named files.
func copyModel(t *testing.T, skip ...string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(tinyDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tinyDir, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if slices.Contains(skip, filepath.ToSlash(rel)) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	lib := ortLib(t)
	missingDir := filepath.Join(t.TempDir(), "nope")
	cases := []struct {
		name string
		dir  string
		mode DecoderMode
		want string
	}{
		{"no dir", missingDir, "", "model directory " + missingDir + " does not exist"},
		{"no encoder", copyModel(t, "onnx/encoder_model.onnx"), "", "has no onnx/encoder_model.onnx"},
		{"no decoders", copyModel(t, "onnx/decoder_model.onnx", "onnx/decoder_model_merged.onnx"), "", "has no onnx/decoder_model_merged.onnx or onnx/decoder_model.onnx"},
		{"no merged", copyModel(t, "onnx/decoder_model_merged.onnx"), DecoderMerged, "has no onnx/decoder_model_merged.onnx"},
		{"no config", copyModel(t, "config.json"), "", "has no config.json"},
		{"no preprocessor", copyModel(t, "preprocessor_config.json"), "", "has no preprocessor_config.json"},
		{"no tokenizer", copyModel(t, "tokenizer.json"), "", "has no tokenizer.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, err := Open(Options{Dir: c.dir, LibPath: lib, Decoder: c.mode})
			if err == nil {
				m.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestOpenFallsBackToPlainDecoder(t *testing.T) {
	t.Parallel()
	ref := loadReference(t)
	dir := copyModel(t, "onnx/decoder_model_merged.onnx", "generation_config.json")
	m := openTiny(t, Options{Dir: dir})
	if m.UsesKVCache() || m.Name() != filepath.Base(dir) {
		t.Fatalf("UsesKVCache %v, Name %q", m.UsesKVCache(), m.Name())
	}
	// Without generation_config.json the token ids come from config.json and
	// decoding falls back to HF's defaults (greedy, max_length 20).
	g := m.Generation()
	if g.NumBeams != 1 || g.MaxLength != 20 || g.DecoderStartID != ref.DecoderStartID {
		t.Fatalf("generation %+v", g)
	}
	g.MaxLength = ref.MaxLength
	g.NoRepeatNgramSize = ref.NoRepeatNgram
	g.BadWordsIDs = ref.BadWordsIDs
	res, err := m.Generate(context.Background(), ref.Images[0].pixels(t), g)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.TokenIDs, ref.Images[0].Greedy.IDs) {
		t.Fatalf("ids %v, want %v", res.TokenIDs, ref.Images[0].Greedy.IDs)
	}
}

func TestOpenWithoutRuntimePath(t *testing.T) {
	t.Parallel()
	// Only meaningful before the runtime is loaded; tests share a process,
	// so just check that a loaded runtime is reused without LibPath.
	if err := InitRuntime(ortLib(t)); err != nil {
		t.Fatal(err)
	}
	m, err := Open(Options{Dir: tinyDir})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}
