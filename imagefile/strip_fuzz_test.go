package imagefile

import (
	"bytes"
	"errors"
	"image"
	"io"
	"os"
	"testing"
)

// FuzzStrip checks, on any input Sniff accepts, that Strip does not panic
// and that what it returns on success is still the same picture:
//   - any error wraps ErrMalformed (a bytes.Reader cannot fail otherwise);
//   - the output is no bigger than the input and a minimal EXIF block;
//   - it has the same format and orientation, and stripping it again
//     changes nothing;
//   - if the input's header decodes, the output's decodes to the same size
//     and format, and if a small input decodes, the output decodes to the
//     same pixels.
func FuzzStrip(f *testing.F) {
	var seeds [][]byte
	for _, c := range []func(testing.TB) ([]byte, []byte){jpegCase, pngCase, webpCase, gifCase} {
		in, _ := c(f)
		seeds = append(seeds, in)
	}
	scan, _ := jpegScanCase()
	seeds = append(seeds, scan, plainJPEG(f), plainPNG(f), plainGIF(f), plainWebP(f))
	for _, path := range testdataImages(f) {
		if b, err := os.ReadFile(path); err == nil && len(b) <= 8<<10 {
			seeds = append(seeds, b)
		}
	}
	for _, s := range seeds {
		f.Add(s)
		f.Add(s[:len(s)/2])
		f.Add(s[:len(s)-1])
	}

	f.Fuzz(func(t *testing.T, in []byte) {
		ct, err := Sniff(in)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Strip(&buf, bytes.NewReader(in), ct); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("the error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		out := buf.Bytes()
		if len(out) > len(in)+64 {
			t.Fatalf("%d bytes became %d", len(in), len(out))
		}
		if got, _ := Sniff(out); got != ct {
			t.Fatalf("a %s became %q", ct, got)
		}
		var again bytes.Buffer
		if err := Strip(&again, bytes.NewReader(out), ct); err != nil || !bytes.Equal(again.Bytes(), out) {
			t.Fatalf("stripping the output again: %v, or it changed", err)
		}
		if ct == "image/webp" { // the path for readers that cannot seek
			var plain bytes.Buffer
			if err := Strip(&plain, struct{ io.Reader }{bytes.NewReader(in)}, ct); err != nil || !bytes.Equal(plain.Bytes(), out) {
				t.Fatalf("from a plain io.Reader: %v, or a different output", err)
			}
		}
		oi, err1 := Orientation(bytes.NewReader(in), ct)
		oo, err2 := Orientation(bytes.NewReader(out), ct)
		if oi != oo || err1 != nil || err2 != nil {
			t.Fatalf("orientation %d (%v) became %d (%v)", oi, err1, oo, err2)
		}

		ci, fi, err := image.DecodeConfig(bytes.NewReader(in))
		if err != nil {
			return
		}
		co, fo, err := image.DecodeConfig(bytes.NewReader(out))
		if err != nil || co.Width != ci.Width || co.Height != ci.Height || fo != fi {
			t.Fatalf("a %s %d×%d became a %s %d×%d (%v)", fi, ci.Width, ci.Height, fo, co.Width, co.Height, err)
		}
		if int64(ci.Width)*int64(ci.Height) > 1<<16 {
			return // decoding could allocate far more than the input's size
		}
		mi, _, err := image.Decode(bytes.NewReader(in))
		if err != nil {
			return
		}
		mo, _, err := image.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("the input decodes, the output does not: %v", err)
		}
		if mi.Bounds() != mo.Bounds() {
			t.Fatalf("decoded %v, was %v", mo.Bounds(), mi.Bounds())
		}
		b := mi.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if mi.At(x, y) != mo.At(x, y) {
					t.Fatalf("pixel %d,%d is %v, was %v", x, y, mo.At(x, y), mi.At(x, y))
				}
			}
		}
	})
}
