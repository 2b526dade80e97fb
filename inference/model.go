// Package inference captions images with Hugging Face VisionEncoderDecoder
// models exported by Optimum for transformers.js (onnx/encoder_model.onnx plus
// onnx/decoder_model_merged.onnx or onnx/decoder_model.onnx), run through
// ONNX Runtime.
package inference

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"time"

	"captionai/vocab"

	ort "github.com/yalue/onnxruntime_go"
)

// ErrClosed is returned by calls on a closed Model.
var ErrClosed = errors.New("inference: model is closed")

// DecoderMode picks which decoder file Open loads.
type DecoderMode string

const (
	DecoderAuto   DecoderMode = ""       // merged if present, else plain
	DecoderMerged DecoderMode = "merged" // onnx/decoder_model_merged.onnx, with KV cache
	DecoderPlain  DecoderMode = "plain"  // onnx/decoder_model.onnx, whole sequence every step
)

// Options configures Open.
type Options struct {
	Dir       string // model directory (holds onnx/, config.json, ...)
	LibPath   string // path to libonnxruntime.so; InitRuntime uses it
	Sessions  int    // number of concurrent ONNX session sets (pool size), default 1
	Threads   int    // intra-op threads per session, e.g. 1; 0 = ORT default (one per physical core)
	NumBeams  int    // 0 = use generation_config.json
	MaxLength int    // 0 = use generation_config.json

	Decoder DecoderMode
	// Variant selects files such as onnx/encoder_model_quantized.onnx
	// ("quantized"); empty means the plain float32 files. Only variants with
	// float32 inputs and outputs work.
	Variant string
}

// Result is one caption with its timings.
type Result struct {
	Text     string
	TokenIDs []int64 // as HF generate returns them: start token first, eos last if produced
	// Confidence is the calibrated chance that Text names the photo's subject
	// right, from the model's config.json; nil when the model has no calibration.
	Confidence *float64
	// Certainty is vocab.Sure, vocab.Probable (show as "Probably: …") or
	// vocab.Unsure (Text is then a safe description, not the model's words);
	// empty when Confidence is nil.
	Certainty string
	// Evidence is what Confidence was computed from.
	Evidence Evidence
	// DetectorScores are the encoder's class scores (in the model's label
	// order), nil when the model has no detector output.
	DetectorScores []float32
	// ModelText is the model's own words, also when Text is the safe description.
	ModelText string
	Encode    time.Duration
	Decode    time.Duration
	Total     time.Duration // preprocess + encode + decode
}

// Model is safe for concurrent use; each call borrows one session set.
type Model struct {
	name    string
	gen     GenerationConfig
	pre     PreprocessConfig
	tok     *Tokenizer
	dec     *decoderIO
	encOut  string
	encPath string
	ground  *grounding // nil for models without CaptionAI's config.json section

	*sessions[*sessionSet]
}

type sessionSet struct {
	enc, dec *ort.DynamicAdvancedSession
}

func (s *sessionSet) destroy() error {
	var errs []error
	if s.enc != nil {
		errs = append(errs, s.enc.Destroy())
	}
	if s.dec != nil {
		errs = append(errs, s.dec.Destroy())
	}
	return errors.Join(errs...)
}

// Open loads a model directory and creates opts.Sessions session sets.
func Open(opts Options) (*Model, error) {
	if opts.Dir == "" {
		return nil, errors.New("inference: no model directory given")
	}
	dir := filepath.Clean(opts.Dir)
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("model directory %s does not exist", dir)
	}
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("model directory %s is not a directory", dir)
	}
	suffix := ""
	if opts.Variant != "" {
		suffix = "_" + opts.Variant
	}
	file := func(name string) string { return filepath.Join("onnx", name+suffix+".onnx") }
	exists := func(rel string) bool {
		fi, err := os.Stat(filepath.Join(dir, rel))
		return err == nil && !fi.IsDir()
	}
	missing := func(rel string) error { return fmt.Errorf("model directory %s has no %s", dir, rel) }

	encRel := file("encoder_model")
	if !exists(encRel) {
		return nil, missing(encRel)
	}
	var decRel string
	switch opts.Decoder {
	case DecoderAuto:
		decRel = file("decoder_model_merged")
		if !exists(decRel) {
			decRel = file("decoder_model")
			if !exists(decRel) {
				return nil, fmt.Errorf("model directory %s has no %s or %s", dir, file("decoder_model_merged"), decRel)
			}
		}
	case DecoderMerged:
		decRel = file("decoder_model_merged")
	case DecoderPlain:
		decRel = file("decoder_model")
	default:
		return nil, fmt.Errorf("inference: unknown decoder mode %q", opts.Decoder)
	}
	if !exists(decRel) {
		return nil, missing(decRel)
	}

	var cfg modelConfig
	if _, err := readJSON(dir, "config.json", &cfg, true); err != nil {
		return nil, err
	}
	var genJSON genFields
	hasGen, err := readJSON(dir, "generation_config.json", &genJSON, false)
	if err != nil {
		return nil, err
	}
	var gp *genFields
	if hasGen {
		gp = &genJSON
	}
	gen, err := buildGeneration(&cfg, gp)
	if err != nil {
		return nil, err
	}
	if opts.NumBeams > 0 {
		gen.NumBeams = opts.NumBeams
	}
	if opts.MaxLength > 0 {
		gen.MaxLength = opts.MaxLength
	}
	if err := gen.validate(); err != nil {
		return nil, err
	}
	var preJSON preprocessJSON
	if _, err := readJSON(dir, "preprocessor_config.json", &preJSON, true); err != nil {
		return nil, err
	}
	pre, err := parsePreprocess(&preJSON)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "preprocessor_config.json"), err)
	}
	tok, err := LoadTokenizer(dir)
	if err != nil {
		return nil, err
	}

	if opts.LibPath != "" {
		if err := InitRuntime(opts.LibPath); err != nil {
			return nil, err
		}
	} else if !runtimeReady() {
		return nil, errors.New("inference: ONNX Runtime is not loaded; set Options.LibPath or call InitRuntime")
	}

	ground, err := parseGrounding(cfg.CaptionAI, tok)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
	}
	if ground != nil {
		gen.NoRepeatWords, gen.RepeatExempt = ground.noRepeat, ground.exempt
	}
	m := &Model{
		ground:  ground,
		name:    filepath.Base(dir),
		gen:     gen,
		pre:     pre,
		tok:     tok,
		encPath: filepath.Join(dir, encRel),
	}
	if m.encOut, err = inspectEncoder(m.encPath, pre, ground); err != nil {
		return nil, err
	}
	if m.dec, err = inspectDecoder(filepath.Join(dir, decRel), &cfg); err != nil {
		return nil, err
	}

	so, err := newSessionOptions(opts.Threads, false)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	m.sessions, err = newSessions(opts.Sessions, func() (*sessionSet, error) { return m.newSessionSet(so) }, (*sessionSet).destroy)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func inspectEncoder(path string, pre PreprocessConfig, ground *grounding) (string, error) {
	ins, outs, err := ioInfo(path)
	if err != nil {
		return "", err
	}
	if len(ins) != 1 || ins[0].Name != inPixelValues {
		return "", fmt.Errorf("inference: encoder %s must take only %q, has %v", path, inPixelValues, ins)
	}
	d := ins[0].Dimensions
	if len(d) != 4 || (d[1] > 0 && d[1] != 3) {
		return "", fmt.Errorf("inference: encoder input shape %v, want [batch, 3, height, width]", d)
	}
	if pre.OutputH > 0 && ((d[2] > 0 && d[2] != int64(pre.OutputH)) || (d[3] > 0 && d[3] != int64(pre.OutputW))) {
		return "", fmt.Errorf("inference: encoder wants %dx%d pixels but preprocessor_config.json makes %dx%d", d[3], d[2], pre.OutputW, pre.OutputH)
	}
	if len(outs) == 0 {
		return "", fmt.Errorf("inference: encoder %s has no outputs", path)
	}
	if ground != nil && ground.detectorOut != "" {
		found := false
		for _, o := range outs {
			found = found || (o.Name == ground.detectorOut && len(o.Dimensions) == 2 && o.Dimensions[1] == int64(len(ground.labels)))
		}
		if !found {
			return "", fmt.Errorf("inference: encoder %s has no output %q [batch, %d] that config.json names", path, ground.detectorOut, len(ground.labels))
		}
	}
	for _, o := range outs {
		if o.Name == outLastHidden {
			return o.Name, nil
		}
	}
	return outs[0].Name, nil
}

func (m *Model) newSessionSet(so *ort.SessionOptions) (*sessionSet, error) {
	outs := []string{m.encOut}
	if m.ground != nil && m.ground.detectorOut != "" {
		outs = append(outs, m.ground.detectorOut)
	}
	enc, err := ort.NewDynamicAdvancedSession(m.encPath, []string{inPixelValues}, outs, so)
	if err != nil {
		return nil, fmt.Errorf("inference: loading %s: %w", m.encPath, err)
	}
	dec, err := ort.NewDynamicAdvancedSession(m.dec.path, m.dec.inputs, m.dec.outputs, so)
	if err != nil {
		enc.Destroy()
		return nil, fmt.Errorf("inference: loading %s: %w", m.dec.path, err)
	}
	return &sessionSet{enc: enc, dec: dec}, nil
}

// Name is the model directory's base name, e.g. "tiny-random".
func (m *Model) Name() string { return m.name }

// Sessions is the number of session sets, i.e. how many captions can run at once.
func (m *Model) Sessions() int { return m.size }

// Generation returns the decoding settings Caption uses.
func (m *Model) Generation() GenerationConfig { return m.gen }

// Preprocessing returns the image preprocessing settings.
func (m *Model) Preprocessing() PreprocessConfig { return m.pre }

// Tokenizer returns the model's tokenizer.
func (m *Model) Tokenizer() *Tokenizer { return m.tok }

// UsesKVCache reports whether the merged decoder (with past key values) is loaded.
func (m *Model) UsesKVCache() bool { return len(m.dec.pasts) > 0 }

// Preprocess turns an image into pixel_values (CHW float32) as the model's
// preprocessor_config.json describes.
func (m *Model) Preprocess(img image.Image) []float32 { return m.pre.Apply(img).Data }

// Caption preprocesses, encodes and decodes one image with the model's
// generation settings. It waits for a free session set or for ctx.
func (m *Model) Caption(ctx context.Context, img image.Image) (Result, error) {
	if img == nil {
		return Result{}, errors.New("inference: nil image")
	}
	start := time.Now()
	px := m.pre.Apply(img)
	prep := time.Since(start)
	res, err := m.Generate(ctx, px, m.gen)
	res.Total += prep
	return res, err
}

// Generate encodes pixel values and decodes with g (greedy when
// g.NumBeams is 1, beam search otherwise).
func (m *Model) Generate(ctx context.Context, px Pixels, g GenerationConfig) (Result, error) {
	if err := g.validate(); err != nil {
		return Result{}, err
	}
	s, run, release, err := m.acquire(ctx)
	if err != nil {
		return Result{}, err
	}
	defer release()

	var res Result
	t0 := time.Now()
	hidden, scores, err := m.encode(s, run, px)
	if err != nil {
		return res, ctxErr(ctx, err)
	}
	res.Encode = time.Since(t0)
	if banned, cost := m.ground.banned(scores); len(banned) > 0 || cost != nil {
		g.Banned, g.Penalty = append(slices.Clone(g.Banned), banned...), cost
	}

	t1 := time.Now()
	batch := g.NumBeams
	enc, err := repeatBatch(hidden, batch)
	hidden.Destroy()
	if err != nil {
		return res, err
	}
	defer enc.Destroy()
	st := &stepper{io: m.dec, sess: s.dec, run: run, enc: enc, encSeq: enc.GetShape()[1], batch: batch, onStep: g.OnStep}
	defer st.close()
	var lps []float64
	if batch == 1 {
		res.TokenIDs, lps, err = greedySearch(ctx, &g, st)
	} else {
		res.TokenIDs, lps, err = beamSearch(ctx, &g, st)
	}
	if err != nil {
		return res, ctxErr(ctx, err)
	}
	res.Decode = time.Since(t1)
	res.Total = res.Encode + res.Decode
	res.Text = m.tok.Decode(res.TokenIDs)
	res.ModelText = res.Text
	res.Evidence = m.ground.evidence(res.TokenIDs, lps, scores)
	res.DetectorScores = scores
	if p, certainty, ok := m.ground.confidence(res.Evidence); ok {
		res.Confidence, res.Certainty = &p, certainty
		if certainty == vocab.Unsure && m.ground.safeText != "" {
			res.Text = m.ground.safeText
		}
	}
	return res, nil
}

// Encode runs only the encoder and returns last_hidden_state and its shape.
func (m *Model) Encode(ctx context.Context, px Pixels) ([]float32, []int64, error) {
	s, run, release, err := m.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	t, _, err := m.encode(s, run, px)
	if err != nil {
		return nil, nil, ctxErr(ctx, err)
	}
	defer t.Destroy()
	return t.GetData(), t.GetShape(), nil
}

// encode returns last_hidden_state and, for a model with a detector output,
// the detector's class scores.
func (m *Model) encode(s *sessionSet, run *ort.RunOptions, px Pixels) (*ort.Tensor[float32], []float32, error) {
	if px.Width <= 0 || px.Height <= 0 || len(px.Data) != 3*px.Width*px.Height {
		return nil, nil, fmt.Errorf("inference: %d pixel values do not make a 3x%dx%d image", len(px.Data), px.Height, px.Width)
	}
	in, err := ort.NewTensor(ort.NewShape(1, 3, int64(px.Height), int64(px.Width)), px.Data)
	if err != nil {
		return nil, nil, err
	}
	defer in.Destroy()
	out := []ort.Value{nil}
	if m.ground != nil && m.ground.detectorOut != "" {
		out = append(out, nil)
	}
	if err := s.enc.RunWithOptions([]ort.Value{in}, out, run); err != nil {
		return nil, nil, fmt.Errorf("inference: encoder: %w", err)
	}
	var scores []float32
	if len(out) > 1 {
		d, ok := out[1].(*ort.Tensor[float32])
		if ok {
			scores = slices.Clone(d.GetData())
		}
		out[1].Destroy()
		if !ok || len(scores) != len(m.ground.labels) {
			out[0].Destroy()
			return nil, nil, errors.New("inference: encoder's detector output is not float32 [1, classes]")
		}
	}
	t, ok := out[0].(*ort.Tensor[float32])
	if !ok || len(t.GetShape()) != 3 {
		out[0].Destroy()
		return nil, nil, errors.New("inference: encoder output is not a float32 [batch, seq, hidden] tensor")
	}
	return t, scores, nil
}

// ctxErr prefers the context's error over ORT's "terminated" message.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// Close waits for running captions to finish and frees all sessions.
func (m *Model) Close() error { return m.close() }

// repeatBatch stacks n copies of a [1, ...] tensor along the batch axis.
func repeatBatch(t *ort.Tensor[float32], n int) (*ort.Tensor[float32], error) {
	shape := t.GetShape().Clone()
	src := t.GetData()
	data := make([]float32, 0, len(src)*n)
	for i := 0; i < n; i++ {
		data = append(data, src...)
	}
	shape[0] = int64(n)
	return ort.NewTensor(shape, data)
}
