package imagefile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/webp"
)

// markedJPEG is a w×h gray JPEG with a red block in its top left corner.
func markedJPEG(t testing.TB, w, h int) []byte {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{128, 128, 128, 255}
			if x < w/4 && y < h/4 {
				c = color.RGBA{230, 20, 20, 255}
			}
			m.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func reddish(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r>>8 > 180 && g>>8 < 90 && b>>8 < 90
}

// TestDeriveSizesOrientationMetadata gives Derive a real JPEG whose EXIF
// says "turn 90° clockwise", with GPS, camera and author tags, XMP and an
// ICC profile written by exiftool: the sizes fit their long side, are
// upright (the red corner moves from top left to top right), and exiftool
// finds no metadata in them.
func TestDeriveSizesOrientationMetadata(t *testing.T) {
	exiftool := needExiftool(t)
	dir := t.TempDir()
	iccPath := filepath.Join(dir, "test.icc")
	if err := os.WriteFile(iccPath, tinyICC(), 0o644); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.jpg")
	if err := os.WriteFile(in, markedJPEG(t, 2400, 1200), 0o644); err != nil {
		t.Fatal(err)
	}
	runExiftool(t, exiftool, "-q", "-overwrite_original", "-Orientation#=6", "-GPSLatitude=48.8584", "-GPSLatitudeRef=N",
		"-Artist=Someone", "-Model=PhoneCam", "-XMP:Creator=Someone", "-icc_profile<="+iccPath, in)
	file, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := Derive(file)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int{Card: {240, 480}, View: {800, 1600}}
	if len(ds) != 2 {
		t.Fatalf("%d derivatives", len(ds))
	}
	for _, d := range ds {
		if got := [2]int{d.Width, d.Height}; got != want[d.Kind] {
			t.Errorf("%s is %v, want %v (the 2400×1200 photo turned upright)", d.Kind, got, want[d.Kind])
		}
		if sum := sha256.Sum256(d.Bytes); hex.EncodeToString(sum[:]) != d.SHA256 {
			t.Errorf("%s: SHA256 %s is not of its bytes", d.Kind, d.SHA256)
		}
		m, err := webp.Decode(bytes.NewReader(d.Bytes))
		if err != nil {
			t.Fatalf("%s is not WebP: %v", d.Kind, err)
		}
		if b := m.Bounds(); b.Dx() != d.Width || b.Dy() != d.Height {
			t.Errorf("%s decodes at %v, recorded %dx%d", d.Kind, b, d.Width, d.Height)
		}
		if w := m.Bounds().Dx(); !reddish(m.At(w-5, 5)) || reddish(m.At(5, 5)) {
			t.Errorf("%s: top right %v, top left %v: not turned upright", d.Kind, m.At(w-5, 5), m.At(5, 5))
		}
		out := filepath.Join(dir, d.Kind+".webp")
		if err := os.WriteFile(out, d.Bytes, 0o644); err != nil {
			t.Fatal(err)
		}
		for k := range exiftoolTags(t, exiftool, out) {
			group, _, _ := strings.Cut(k, ":")
			switch group {
			case "SourceFile", "ExifTool", "File", "RIFF", "Composite":
			default:
				t.Errorf("%s keeps %s", d.Kind, k)
			}
		}
	}
}

// TestDeriveNeverEnlarges keeps a small image at its own size in both
// sizes, and reads PNG too.
func TestDeriveNeverEnlarges(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"jpeg", markedJPEG(t, 256, 192)},
		{"png", func() []byte {
			var b bytes.Buffer
			if err := png.Encode(&b, gradient(300, 200)); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}()},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, _, err := image.DecodeConfig(bytes.NewReader(c.data))
			if err != nil {
				t.Fatal(err)
			}
			ds, err := Derive(c.data)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if d.Width != cfg.Width || d.Height != cfg.Height {
					t.Errorf("%s is %dx%d, want the original %dx%d", d.Kind, d.Width, d.Height, cfg.Width, cfg.Height)
				}
			}
		})
	}
}

func TestDeriveRefusesWhatItCannotRead(t *testing.T) {
	if _, err := Derive([]byte("not an image at all")); err == nil {
		t.Fatal("no error for text")
	}
	jpg := markedJPEG(t, 64, 64)
	if _, err := Derive(jpg[:40]); err == nil {
		t.Fatal("no error for a truncated JPEG")
	}
	// A PNG whose compressed pixels are scrambled (checksums fixed), which
	// Go's decoder refuses too.
	var b bytes.Buffer
	png.Encode(&b, gradient(64, 48))
	data := b.Bytes()
	i := bytes.Index(data, []byte("IDAT"))
	n := int(binary.BigEndian.Uint32(data[i-4:]))
	for j := i + 4 + 2; j < i+4+n; j++ {
		data[j] ^= 0x5a
	}
	binary.BigEndian.PutUint32(data[i+4+n:], crc32.ChecksumIEEE(data[i:i+4+n]))
	if _, err := Decode(bytes.NewReader(data)); err == nil {
		t.Fatal("Go decodes the damaged PNG")
	}
	if px, err := DecodeForModel(data, 0); err == nil {
		t.Fatalf("libvips decodes the damaged PNG to %v", px.Bounds())
	}
}
