package inference

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// tokenIDs accepts a JSON number, a list of numbers or null, as HF configs
// use all three for eos_token_id.
type tokenIDs []int64

func (t *tokenIDs) UnmarshalJSON(b []byte) error {
	var one *int64
	if err := json.Unmarshal(b, &one); err == nil {
		if one == nil {
			*t = nil
		} else {
			*t = tokenIDs{*one}
		}
		return nil
	}
	var many []int64
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("token id: %s is neither a number nor a list of numbers", b)
	}
	*t = many
	return nil
}

// earlyStopping is a JSON bool or the string "never".
type earlyStopping string

func (e *earlyStopping) UnmarshalJSON(b []byte) error {
	var v bool
	if err := json.Unmarshal(b, &v); err == nil {
		*e = earlyStopping(fmt.Sprint(v))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil || s != "never" {
		return fmt.Errorf("early_stopping: want true, false or \"never\", got %s", b)
	}
	*e = "never"
	return nil
}

// tokenConfig holds the special token ids that HF spreads over config.json,
// its decoder section and generation_config.json.
type tokenConfig struct {
	BOS          *int64   `json:"bos_token_id"`
	EOS          tokenIDs `json:"eos_token_id"`
	Pad          *int64   `json:"pad_token_id"`
	DecoderStart *int64   `json:"decoder_start_token_id"`
}

// genFields are the generation settings read from generation_config.json
// (or, for older models, the top level of config.json).
type genFields struct {
	tokenConfig
	MaxLength         *int           `json:"max_length"`
	MaxNewTokens      *int           `json:"max_new_tokens"`
	MinLength         *int           `json:"min_length"`
	NumBeams          *int           `json:"num_beams"`
	LengthPenalty     *float64       `json:"length_penalty"`
	EarlyStopping     *earlyStopping `json:"early_stopping"`
	NoRepeatNgramSize *int           `json:"no_repeat_ngram_size"`
	BadWordsIDs       [][]int64      `json:"bad_words_ids"`
}

type modelConfig struct {
	genFields
	CaptionAI *groundingJSON `json:"captionai"`
	Decoder   struct {
		tokenConfig
		VocabSize         int `json:"vocab_size"`
		NHead             int `json:"n_head"`
		NEmbd             int `json:"n_embd"`
		NumAttentionHeads int `json:"num_attention_heads"`
		HiddenSize        int `json:"hidden_size"`
		DecoderHeads      int `json:"decoder_attention_heads"`
		DModel            int `json:"d_model"`
	} `json:"decoder"`
}

// heads returns the decoder's attention heads and head size from config.json,
// or zeros when it does not say.
func (c *modelConfig) heads() (heads, headDim int) {
	d := c.Decoder
	for _, p := range [][2]int{{d.NHead, d.NEmbd}, {d.NumAttentionHeads, d.HiddenSize}, {d.DecoderHeads, d.DModel}} {
		if p[0] > 0 && p[1] > 0 && p[1]%p[0] == 0 {
			return p[0], p[1] / p[0]
		}
	}
	return 0, 0
}

// GenerationConfig controls decoding. Open fills it from generation_config.json
// (falling back to config.json and HF's defaults); callers may copy and change it.
type GenerationConfig struct {
	MaxLength         int     // total length including the start token (HF max_length)
	MinLength         int     // eos is banned until the sequence is this long
	NumBeams          int     // 1 = greedy
	LengthPenalty     float64 // beam score = sum logprobs / len^LengthPenalty
	EarlyStopping     string  // "false" (HF heuristic), "true" or "never"
	NoRepeatNgramSize int
	BadWordsIDs       [][]int64
	DecoderStartID    int64
	EOSTokenIDs       []int64
	PadTokenID        int64

	// Banned tokens are never generated: the words naming objects that the
	// detector sees no evidence of in this photo (set per photo by Generate).
	Banned []int64
	// Penalty is added to these tokens' log-probabilities (weak evidence).
	Penalty map[int64]float64
	// NoRepeatWords bans every token already generated except RepeatExempt's.
	NoRepeatWords bool
	RepeatExempt  map[int64]bool

	// OnStep, if set, is called after every decoder run; for tests and profiling.
	OnStep func(StepInfo) `json:"-"`
}

// StepInfo describes one decoder run.
type StepInfo struct {
	Step       int  // 0-based decoder call index
	Batch      int  // sequences in the batch (beams)
	InputLen   int  // tokens fed per sequence
	PastLen    int  // cached positions fed per sequence
	PresentLen int  // cached positions returned (0 without a KV cache)
	UseCache   bool // value of use_cache_branch (merged decoder only)
	// Logits holds the last position's raw logits, Batch*Vocab values; only
	// valid during the call.
	Logits []float32
	Vocab  int
}

func (g *GenerationConfig) isEOS(id int64) bool {
	for _, e := range g.EOSTokenIDs {
		if e == id {
			return true
		}
	}
	return false
}

func (g *GenerationConfig) validate() error {
	if g.MaxLength < 2 {
		return fmt.Errorf("inference: max length %d leaves no room to generate", g.MaxLength)
	}
	if g.NumBeams < 1 {
		return fmt.Errorf("inference: num_beams must be at least 1, got %d", g.NumBeams)
	}
	switch g.EarlyStopping {
	case "", "false", "true", "never":
	default:
		return fmt.Errorf("inference: early_stopping %q is not true, false or never", g.EarlyStopping)
	}
	return nil
}

func readJSON(dir, name string, v any, required bool) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		if required {
			return false, fmt.Errorf("model directory %s has no %s", dir, name)
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	return true, nil
}

func firstID(ps ...*int64) (int64, bool) {
	for _, p := range ps {
		if p != nil {
			return *p, true
		}
	}
	return 0, false
}

// buildGeneration applies HF's precedence: generation_config.json, then
// config.json, then the decoder section (token ids only), then defaults.
func buildGeneration(cfg *modelConfig, gen *genFields) (GenerationConfig, error) {
	g := GenerationConfig{MaxLength: 20, NumBeams: 1, LengthPenalty: 1, EarlyStopping: "false"}
	layers := []*genFields{&cfg.genFields}
	if gen != nil {
		layers = append(layers, gen)
	}
	maxNew := 0
	for _, l := range layers {
		if l.MaxLength != nil {
			g.MaxLength = *l.MaxLength
		}
		if l.MaxNewTokens != nil {
			maxNew = *l.MaxNewTokens
		}
		if l.MinLength != nil {
			g.MinLength = *l.MinLength
		}
		if l.NumBeams != nil {
			g.NumBeams = *l.NumBeams
		}
		if l.LengthPenalty != nil {
			g.LengthPenalty = *l.LengthPenalty
		}
		if l.EarlyStopping != nil {
			g.EarlyStopping = string(*l.EarlyStopping)
		}
		if l.NoRepeatNgramSize != nil {
			g.NoRepeatNgramSize = *l.NoRepeatNgramSize
		}
		if l.BadWordsIDs != nil {
			g.BadWordsIDs = l.BadWordsIDs
		}
	}
	if maxNew > 0 {
		g.MaxLength = 1 + maxNew // the prompt is the single start token
	}

	var top, dec tokenConfig = cfg.tokenConfig, cfg.Decoder.tokenConfig
	var gt tokenConfig
	if gen != nil {
		gt = gen.tokenConfig
	}
	start, ok := firstID(gt.DecoderStart, top.DecoderStart, dec.DecoderStart, gt.BOS, top.BOS, dec.BOS)
	if !ok {
		return g, errors.New("inference: no decoder_start_token_id or bos_token_id in config.json or generation_config.json")
	}
	g.DecoderStartID = start
	for _, e := range []tokenIDs{gt.EOS, top.EOS, dec.EOS} {
		if len(e) > 0 {
			g.EOSTokenIDs = e
			break
		}
	}
	if pad, ok := firstID(gt.Pad, top.Pad, dec.Pad); ok {
		g.PadTokenID = pad
	} else if len(g.EOSTokenIDs) > 0 {
		g.PadTokenID = g.EOSTokenIDs[0]
	}
	return g, g.validate()
}

// PreprocessConfig mirrors preprocessor_config.json (ViTImageProcessor and
// similar). Missing fields take ViTImageProcessor's defaults.
type PreprocessConfig struct {
	DoResize         bool
	Width, Height    int // target size when ShortestEdge is 0
	ShortestEdge     int // resize the short side to this, keeping aspect ratio
	Resample         int // PIL filter id: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming
	DoCenterCrop     bool
	CropWidth        int
	CropHeight       int
	DoRescale        bool
	RescaleFactor    float64
	DoNormalize      bool
	Mean, Std        [3]float32
	OutputW, OutputH int // final pixel_values size; 0 when it depends on the image
}

type sizeJSON struct {
	Height       int `json:"height"`
	Width        int `json:"width"`
	ShortestEdge int `json:"shortest_edge"`
}

func (s *sizeJSON) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		s.Height, s.Width = n, n
		return nil
	}
	type plain sizeJSON
	return json.Unmarshal(b, (*plain)(s))
}

type preprocessJSON struct {
	DoResize      *bool     `json:"do_resize"`
	Size          *sizeJSON `json:"size"`
	Resample      *int      `json:"resample"`
	DoCenterCrop  *bool     `json:"do_center_crop"`
	CropSize      *sizeJSON `json:"crop_size"`
	DoRescale     *bool     `json:"do_rescale"`
	RescaleFactor *float64  `json:"rescale_factor"`
	DoNormalize   *bool     `json:"do_normalize"`
	ImageMean     []float32 `json:"image_mean"`
	ImageStd      []float32 `json:"image_std"`
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func parsePreprocess(j *preprocessJSON) (PreprocessConfig, error) {
	p := PreprocessConfig{
		DoResize:      boolOr(j.DoResize, true),
		Width:         224,
		Height:        224,
		Resample:      2,
		DoCenterCrop:  boolOr(j.DoCenterCrop, false),
		DoRescale:     boolOr(j.DoRescale, true),
		RescaleFactor: 1.0 / 255,
		DoNormalize:   boolOr(j.DoNormalize, true),
		Mean:          [3]float32{0.5, 0.5, 0.5},
		Std:           [3]float32{0.5, 0.5, 0.5},
	}
	if j.Size != nil {
		p.Width, p.Height, p.ShortestEdge = j.Size.Width, j.Size.Height, j.Size.ShortestEdge
	}
	if j.Resample != nil {
		p.Resample = *j.Resample
	}
	if j.RescaleFactor != nil {
		p.RescaleFactor = *j.RescaleFactor
	}
	for _, ms := range []struct {
		src []float32
		dst *[3]float32
	}{{j.ImageMean, &p.Mean}, {j.ImageStd, &p.Std}} {
		switch len(ms.src) {
		case 0:
		case 1:
			*ms.dst = [3]float32{ms.src[0], ms.src[0], ms.src[0]}
		case 3:
			copy(ms.dst[:], ms.src)
		default:
			return p, fmt.Errorf("image_mean/image_std must have 1 or 3 values, got %d", len(ms.src))
		}
	}
	for _, s := range p.Std {
		if s == 0 {
			return p, errors.New("image_std has a zero")
		}
	}
	if _, ok := pilFilters[p.Resample]; !ok && p.Resample != 0 {
		return p, fmt.Errorf("resample filter %d is not supported", p.Resample)
	}
	if p.DoCenterCrop {
		if j.CropSize == nil || j.CropSize.Width <= 0 || j.CropSize.Height <= 0 {
			return p, errors.New("do_center_crop needs crop_size with height and width")
		}
		p.CropWidth, p.CropHeight = j.CropSize.Width, j.CropSize.Height
	}
	switch {
	case p.DoCenterCrop:
		p.OutputW, p.OutputH = p.CropWidth, p.CropHeight
	case p.DoResize && p.ShortestEdge == 0:
		if p.Width <= 0 || p.Height <= 0 {
			return p, errors.New("size needs height and width or shortest_edge")
		}
		p.OutputW, p.OutputH = p.Width, p.Height
	default:
		// The output size depends on the image (shortest_edge without crop,
		// or no resize); the encoder must then accept any size.
	}
	return p, nil
}
