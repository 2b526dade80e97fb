package inference

import (
	"image"
	"image/png"
	"io"
	"testing"

	"captionai/imagefile"
)

// The testdata JPEGs were decoded by libjpeg-turbo (through PIL) into the
// .libjpeg.png files. Our pixels may differ from them only by the two
// decoders' IDCT rounding (2 levels here); Go's own chroma handling was off by
// up to 91 levels at these sharp colour edges.
func TestJPEGPixelsMatchLibjpeg(t *testing.T) {
	for _, name := range []string{"chroma420", "chroma422"} {
		t.Run(name, func(t *testing.T) {
			img := decodeFile(t, "testdata/"+name+".jpg", func(r io.Reader) (image.Image, error) { return imagefile.Decode(r.(io.ReadSeeker)) })
			if _, ok := img.(*image.YCbCr); !ok {
				t.Fatalf("decoded to %T, want *image.YCbCr", img)
			}
			got, w, h := toRGB(img)

			want, rw, rh := toRGB(decodeFile(t, "testdata/"+name+".libjpeg.png", png.Decode))
			if w != rw || h != rh {
				t.Fatalf("size %dx%d, libjpeg %dx%d", w, h, rw, rh)
			}
			worst, differ := 0, 0
			for i := range got {
				d := int(got[i]) - int(want[i])
				d = max(d, -d)
				worst = max(worst, d)
				if d > 0 {
					differ++
				}
			}
			t.Logf("%dx%d: max |diff| %d, %.1f%% of values differ", w, h, worst, 100*float64(differ)/float64(len(got)))
			if worst > 3 || differ > len(got)/10 {
				t.Errorf("pixels stray from libjpeg's: max |diff| %d, %d of %d values differ", worst, differ, len(got))
			}
		})
	}
}

func TestLibjpegRGB(t *testing.T) {
	// Worked from the table formulas in libjpeg-turbo's jdcolor.c (build_ycc_rgb_table).
	for _, c := range []struct{ y, cb, cr, r, g, b uint8 }{
		{128, 128, 128, 128, 128, 128},
		{0, 0, 255, 178, 0, 0},
		{255, 0, 0, 76, 255, 28},
		{100, 200, 50, 0, 131, 228},
	} {
		r, g, b := libjpegRGB(c.y, c.cb, c.cr)
		if r != c.r || g != c.g || b != c.b {
			t.Errorf("libjpegRGB(%d, %d, %d) = %d, %d, %d; want %d, %d, %d", c.y, c.cb, c.cr, r, g, b, c.r, c.g, c.b)
		}
	}
}
