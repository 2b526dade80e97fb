package imagefile

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/disintegration/imaging"
)

// A phone photo is turned upright after the shrink, both for the models
// and in the display sizes.
func TestDecodeSideways(t *testing.T) {
	exiftool := needExiftool(t)
	in := filepath.Join(t.TempDir(), "in.jpg")
	if err := os.WriteFile(in, markedJPEG(t, 2400, 1200), 0o644); err != nil {
		t.Fatal(err)
	}
	runExiftool(t, exiftool, "-q", "-overwrite_original", "-Orientation#=6", in)
	file, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodeShared(file, true, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b := d.Pixels.Bounds(); b.Dx() != 224 || b.Dy() != 448 {
		t.Fatalf("pixels %v, want 224x448", b)
	}
	if !reddish(d.Pixels.At(219, 4)) || reddish(d.Pixels.At(4, 4)) {
		t.Errorf("pixels not upright: top right %v, top left %v", d.Pixels.At(219, 4), d.Pixels.At(4, 4))
	}
	if len(d.Derivatives) != 2 || d.Derivatives[0].Width != 240 || d.Derivatives[1].Height != 1600 {
		t.Errorf("derivatives %v", d.Derivatives)
	}
	// The models' own decode: the 1/4-scale JPEG decode (600 px, within
	// twice ModelSide) turned upright, not resized.
	plain, err := DecodeForModel(file, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b := plain.Bounds(); b.Dx() != 300 || b.Dy() != 600 {
		t.Fatalf("DecodeForModel: %v, want 300x600", b)
	}
	if !reddish(plain.At(290, 6)) || reddish(plain.At(6, 6)) {
		t.Errorf("DecodeForModel: not upright: top right %v, top left %v", plain.At(290, 6), plain.At(6, 6))
	}
	sizes, err := Derive(file)
	if err != nil || len(sizes) != 2 || sizes[1].SHA256 != d.Derivatives[1].SHA256 {
		t.Errorf("Derive differs from the shared decode's sizes: %v", err)
	}
	// A long thin image keeps a short side the models can use.
	if long, err := DecodeForModel(file, 2000); err != nil || long.Bounds().Dy() != 2400 {
		t.Errorf("modelSide 2000: %v, %v", long.Bounds(), err)
	}
}

// The models get what Go's decoder and a resize would give them, to within
// rounding: the same colours, in 8-bit NRGBA, for 16-bit PNGs too.
func TestDecodeForModelMatchesGo(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"jpeg", func() []byte {
			// Smooth, as photos mostly are: libjpeg's scaled decode and
			// Go's resize filter a sharp sawtooth differently.
			m := image.NewRGBA(image.Rect(0, 0, 900, 600))
			for y := range 600 {
				for x := range 900 {
					m.Set(x, y, color.RGBA{uint8(x * 255 / 900), uint8(y * 255 / 600), uint8((x + y) * 255 / 1500), 255})
				}
			}
			var b bytes.Buffer
			if err := imaging.Encode(&b, m, imaging.JPEG, imaging.JPEGQuality(92)); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}()},
		{"png16", func() []byte {
			m := image.NewNRGBA64(image.Rect(0, 0, 300, 200))
			for y := range 200 {
				for x := range 300 {
					m.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 200), uint16(y * 300), 0x8000, 0xffff})
				}
			}
			var b bytes.Buffer
			if err := png.Encode(&b, m); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}()},
	} {
		t.Run(c.name, func(t *testing.T) {
			px, err := DecodeForModel(c.data, 0)
			if err != nil {
				t.Fatal(err)
			}
			g, err := Decode(bytes.NewReader(c.data))
			if err != nil {
				t.Fatal(err)
			}
			b := px.Bounds()
			want := imaging.Resize(g, b.Dx(), b.Dy(), imaging.Linear)
			var sum float64
			for y := 0; y < b.Dy(); y++ {
				for x := 0; x < b.Dx(); x++ {
					p, q := px.NRGBAAt(x, y), want.NRGBAAt(x, y)
					sum += math.Abs(float64(p.R)-float64(q.R)) + math.Abs(float64(p.G)-float64(q.G)) + math.Abs(float64(p.B)-float64(q.B))
				}
			}
			if mean := sum / float64(3*b.Dx()*b.Dy()); mean > 3 {
				t.Errorf("%v pixels differ from Go's by %.2f levels on average", b, mean)
			}
		})
	}
}

// libvips reads the orientation of PNG (eXIf) and WebP (EXIF chunk) too, as
// Decode does: the models and the sizes get the photo upright.
func TestDecodeTurnsPNGAndWebPUpright(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 60, 40))
	for y := range 40 {
		for x := range 60 {
			c := color.RGBA{128, 128, 128, 255}
			if x < 15 && y < 10 {
				c = color.RGBA{230, 20, 20, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	types, chunks := splitPNG(t, b.Bytes())
	if types[0] != "IHDR" {
		t.Fatalf("chunks %v", types)
	}
	pngFile := append(append(append([]byte("\x89PNG\r\n\x1a\n"), chunks[0]...), mkPNGChunk("eXIf", cameraEXIF(6))...), bytes.Join(chunks[1:], nil)...)
	d, err := decodeShared(pngFile, true, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Pixels.Bounds(); got.Dx() != 40 || got.Dy() != 60 {
		t.Fatalf("PNG: %v, want 40x60", got)
	}
	if !reddish(d.Pixels.At(37, 2)) || reddish(d.Pixels.At(2, 2)) {
		t.Errorf("PNG: not upright: top right %v, top left %v", d.Pixels.At(37, 2), d.Pixels.At(2, 2))
	}
	// A WebP of the upright pixels (the card, a plain VP8 file), given an
	// EXIF chunk that says 6 again: turned once more, to 60x40.
	card := d.Derivatives[0].Bytes
	at := bytes.Index(card, []byte("VP8 "))
	if at < 12 {
		t.Fatalf("no VP8 chunk in the card")
	}
	sideways := webpFile(webpVP8X(0x08, 40, 60), card[at:], webpChunk("EXIF", cameraEXIF(6)))
	d2, err := DecodeForModel(sideways, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := d2.Bounds(); got.Dx() != 60 || got.Dy() != 40 {
		t.Errorf("WebP: %v, want 60x40", got)
	}
}

// The memory JPEG decode gives libvips' pixels exactly, at every scale, and
// leaves the files it does not take (CMYK, a truncated one) to libvips.
func TestJPEGMemoryDecodeMatchesLibvips(t *testing.T) {
	names, err := filepath.Glob("testdata/*.jp*g")
	if err != nil || len(names) < 5 {
		t.Fatalf("testdata JPEGs: %v %v", names, err)
	}
	files := map[string][]byte{"a 2403x1201 photo": markedJPEG(t, 2403, 1201)}
	for _, name := range names {
		file, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = file
	}
	for name, file := range files {
		for _, shrink := range []int{1, 2, 4, 8} {
			fast, viaVips, handled, err := jpegLoads(file, shrink)
			if err != nil {
				t.Fatalf("%s 1/%d: %v", name, shrink, err)
			}
			cmyk := strings.Contains(name, "cmyk")
			switch {
			case handled == cmyk:
				t.Errorf("%s 1/%d: decoded from memory = %v", name, shrink, handled)
			case handled && !bytes.Equal(fast, viaVips):
				t.Errorf("%s 1/%d: pixels differ from libvips' (%d and %d bytes)", name, shrink, len(fast), len(viaVips))
			}
		}
	}
	photo := files["a 2403x1201 photo"]
	if _, _, handled, _ := jpegLoads(photo[:len(photo)*2/3], 2); handled {
		t.Error("a truncated JPEG was decoded from memory, not left to libvips")
	}
}

// withICC inserts an APP2 colour profile segment after a JPEG's SOI,
// which keeps it off the memory decode.
func withICC(jpg []byte) []byte {
	seg := mkJPEGSegment(0xE2, append([]byte("ICC_PROFILE\x00\x01\x01"), tinyICC()...))
	return append(append(append([]byte{}, jpg[:2]...), seg...), jpg[2:]...)
}

// A photo a few pixels high and thousands wide is decoded or refused,
// never the end of the process: libvips 8.14 aborts on a JPEG decode
// scaled to 0 px, which the shrink must not ask for.
func TestThinImagesDecode(t *testing.T) {
	for _, size := range []image.Point{{16000, 7}, {7, 16000}, {30000, 3}} {
		m := image.NewGray(image.Rect(0, 0, size.X, size.Y))
		for i := range m.Pix {
			m.Pix[i] = uint8(i)
		}
		jpg := encodeJPEG(t, m)
		for name, file := range map[string][]byte{"jpeg": jpg, "jpeg with a profile": withICC(jpg), "png": encodePNG(t, m)} {
			what := fmt.Sprintf("%s %dx%d", name, size.X, size.Y)
			if ds, err := Derive(file); err == nil {
				for _, d := range ds {
					if d.Width < 1 || d.Height < 1 || max(d.Width, d.Height) > DerivativeKinds[len(DerivativeKinds)-1].MaxSide {
						t.Errorf("%s: %s size %dx%d", what, d.Kind, d.Width, d.Height)
					}
				}
			} else if name != "jpeg with a profile" {
				t.Errorf("%s: Derive: %v", what, err)
			}
			if px, err := DecodeForModel(file, ModelSideFor(size.X, size.Y)); err == nil {
				if b := px.Bounds(); b.Dx() < 1 || b.Dy() < 1 {
					t.Errorf("%s: model pixels %v", what, b)
				}
			} else if name != "jpeg with a profile" {
				t.Errorf("%s: DecodeForModel: %v", what, err)
			}
		}
	}
}

// A GIF whose frame lies far outside its 48x304 screen would be a 593 MP
// canvas for libvips (2.4 GB, 8 s): it is refused before decoding, as the
// budget was taken for the screen.
func TestGIFFrameOutsideScreenIsRefused(t *testing.T) {
	bomb := []byte("GIF87a0\x000\x01000,08\x01 \x03\x00\x00\x81\x00\x00\x00\x00")
	if info, err := Inspect(bytes.NewReader(bomb), 1<<20); err != nil || info.Width != 48 || info.Height != 304 {
		t.Fatalf("Inspect: %+v %v", info, err)
	}
	if _, err := DecodeForModel(bomb, 0); err == nil || !strings.Contains(err.Error(), "48x304 by its header, but 14387x41217") {
		t.Errorf("DecodeForModel: %v", err)
	}
	if _, err := Derive(bomb); err == nil || !strings.Contains(err.Error(), "48x304 by its header") {
		t.Errorf("Derive: %v", err)
	}
}
