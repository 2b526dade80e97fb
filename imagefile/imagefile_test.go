package imagefile

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

func encoded(t *testing.T, enc func(*bytes.Buffer, image.Image) error) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 6, 4))
	img.Set(1, 1, color.RGBA{200, 10, 10, 255})
	var b bytes.Buffer
	if err := enc(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestInspectSniffsContentNotNames(t *testing.T) {
	jpg := encoded(t, func(b *bytes.Buffer, m image.Image) error { return jpeg.Encode(b, m, nil) })
	pngb := encoded(t, func(b *bytes.Buffer, m image.Image) error { return png.Encode(b, m) })
	webpHead := []byte("RIFF\x00\x00\x00\x00WEBPVP8 ")
	for name, c := range map[string]struct {
		data []byte
		ct   string
		err  string
	}{
		"jpeg":      {jpg, "image/jpeg", ""},
		"png":       {pngb, "image/png", ""},
		"text":      {[]byte("hello, not an image"), "", "not a JPEG, PNG, GIF or WebP"},
		"empty":     {nil, "", "the file is empty"},
		"webp head": {webpHead, "", "WebP header could not be read"},
		"too big":   {pngb, "", "the limit is 0 megapixels"},
	} {
		max := int64(50_000_000)
		if name == "too big" {
			max = 10
		}
		info, err := Inspect(bytes.NewReader(c.data), max)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", name, err, c.err)
			}
			continue
		}
		if err != nil || info.ContentType != c.ct || info.Width != 6 || info.Height != 4 {
			t.Errorf("%s: %+v, %v", name, info, err)
		}
	}
}

func TestDecodeRefusesWhatItCannotRead(t *testing.T) {
	if _, err := Decode(strings.NewReader("plain text")); err == nil || !strings.Contains(err.Error(), "not a JPEG") {
		t.Fatalf("err %v", err)
	}
	jpg := encoded(t, func(b *bytes.Buffer, m image.Image) error { return jpeg.Encode(b, m, nil) })
	if _, err := Decode(bytes.NewReader(jpg[:len(jpg)-40])); err == nil || !strings.Contains(err.Error(), "truncated or damaged") {
		t.Fatalf("err %v", err)
	}
	img, err := Decode(bytes.NewReader(jpg))
	if err != nil || img.Bounds().Dx() != 6 {
		t.Fatalf("decode: %v", err)
	}
}

// withOrientation inserts an EXIF APP1 segment saying "rotate 90° CW".
func withOrientation(jpg []byte, orientation byte) []byte {
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08" + // big-endian TIFF header, IFD at 8
		"\x00\x01" + // one entry
		"\x01\x12\x00\x03\x00\x00\x00\x01\x00" + string([]byte{orientation}) + "\x00\x00" + // Orientation, SHORT
		"\x00\x00\x00\x00") // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiff...)
	n := len(payload) + 2
	seg := append([]byte{0xFF, 0xE1, byte(n >> 8), byte(n)}, payload...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

func TestDecodeAppliesEXIFOrientation(t *testing.T) {
	jpg := encoded(t, func(b *bytes.Buffer, m image.Image) error { return jpeg.Encode(b, m, nil) })
	img, err := Decode(bytes.NewReader(withOrientation(jpg, 6)))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 4 || b.Dy() != 6 {
		t.Fatalf("decoded %dx%d, want the 6x4 image turned upright to 4x6", b.Dx(), b.Dy())
	}
}

// PNG keeps its orientation in an eXIf chunk, which imaging does not read:
// Decode turns the pixels upright itself, as browsers do.
func TestDecodeTurnsPNGUpright(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 6, 4))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255}) // top left, before turning
	var b bytes.Buffer
	png.Encode(&b, img)
	types, chunks := splitPNG(t, b.Bytes())
	if types[0] != "IHDR" {
		t.Fatalf("chunks %v", types)
	}
	withExif := append(append(append([]byte("\x89PNG\r\n\x1a\n"), chunks[0]...), mkPNGChunk("eXIf", cameraEXIF(6))...), bytes.Join(chunks[1:], nil)...)
	got, err := Decode(bytes.NewReader(withExif))
	if err != nil {
		t.Fatal(err)
	}
	// Orientation 6: turn 90° clockwise, so the old top left is the top right.
	if w, h := got.Bounds().Dx(), got.Bounds().Dy(); w != 4 || h != 6 {
		t.Fatalf("%d×%d, want 4×6", w, h)
	}
	if r, _, _, _ := got.At(3, 0).RGBA(); r>>8 != 255 {
		t.Errorf("the red pixel is not at the top right")
	}
}
