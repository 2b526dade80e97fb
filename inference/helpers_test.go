package inference

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"captionai/testutil"
)

const tinyDir = "../models/tiny-random"

// ortLib is the ONNX Runtime library the tests load.
func ortLib(t testing.TB) string { return testutil.ORTLib(t) }

func openTiny(t testing.TB, opts Options) *Model {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = tinyDir
	}
	opts.LibPath = ortLib(t)
	m, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}

type refTokens struct {
	IDs  []int64 `json:"ids"`
	Text string  `json:"text"`
}

type refImage struct {
	Image      string  `json:"image"`
	Width      int     `json:"width"`
	Height     int     `json:"height"`
	PixelShape []int64 `json:"pixel_values_shape"`
	PixelsB64  string  `json:"pixel_values_f32le"`
	Encoder    struct {
		Shape  []int64   `json:"shape"`
		Sum    float64   `json:"sum"`
		AbsSum float64   `json:"abs_sum"`
		First  []float64 `json:"first"`
	} `json:"encoder"`
	Greedy refTokens `json:"greedy"`
	Beam   refTokens `json:"beam"`
}

type reference struct {
	MaxLength      int       `json:"max_length"`
	NumBeams       int       `json:"num_beams"`
	NoRepeatNgram  int       `json:"no_repeat_ngram_size"`
	BadWordsIDs    [][]int64 `json:"bad_words_ids"`
	EOS            int64     `json:"eos_token_id"`
	DecoderStartID int64     `json:"decoder_start_token_id"`
	NumLayers      int       `json:"num_layers"`
	NumHeads       int64     `json:"num_heads"`
	HeadDim        int64     `json:"head_dim"`
	VocabSize      int64     `json:"vocab_size"`
	EncSeq         int64     `json:"encoder_sequence_length"`
	Hidden         int64     `json:"hidden_size"`
	Images         []refImage
	ResizeChecks   []struct {
		Image         string `json:"image"`
		Resample      int    `json:"resample"`
		Width, Height int
		SHA256        string `json:"rgb_sha256"`
	} `json:"resize_checks"`
}

func loadReference(t testing.TB) *reference {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tinyDir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Images) == 0 {
		t.Fatal("reference.json has no images")
	}
	return &r
}

// pixels returns the pixel values the Python script fed its model.
func (ri *refImage) pixels(t testing.TB) Pixels {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(ri.PixelsB64)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]float32, len(raw)/4)
	for i := range data {
		data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return Pixels{Data: data, Width: int(ri.PixelShape[3]), Height: int(ri.PixelShape[2])}
}

func (ri *refImage) load(t testing.TB) image.Image {
	t.Helper()
	return decodeFile(t, filepath.Join(tinyDir, ri.Image), png.Decode)
}

// decodeFile opens path and decodes it with decode.
func decodeFile(t testing.TB, path string, decode func(io.Reader) (image.Image, error)) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
