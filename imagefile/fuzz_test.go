package imagefile

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/gif"
	"testing"
)

// fuzzMaxPixels is "a large limit" for Inspect: big enough for every seed,
// small enough that a header claiming more is refused before Decode
// allocates it (image/png allocates the whole image up front).
const fuzzMaxPixels = 1 << 18

// fuzzSeeds are small valid files of each format, then each truncated and
// with a byte changed in its header and in its pixel data.
func fuzzSeeds(t testing.TB) [][]byte {
	r := image.Rect(0, 0, 7, 5)
	nrgba64, gray, gray16 := image.NewNRGBA64(r), image.NewGray(r), image.NewGray16(r)
	fill(nrgba64, r, true)
	fill(gray, r, false)
	fill(gray16, r, false)
	pal := image.NewPaletted(r, color.Palette{color.Black, color.White, color.RGBA{200, 0, 0, 255}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 3)
	}
	// A two-frame GIF whose first frame is smaller than the screen.
	small := image.NewPaletted(image.Rect(2, 1, 5, 4), pal.Palette)
	jpg := encodeJPEG(t, nrgba64)
	valid := [][]byte{
		encodePNG(t, nrgba64), encodePNG(t, gray), encodePNG(t, gray16), encodePNG(t, pal),
		jpg, encodeJPEG(t, gray),
		encodeGIF(t, &gif.GIF{Image: []*image.Paletted{pal, pal}, Delay: []int{0, 0}}),
		encodeGIF(t, &gif.GIF{Image: []*image.Paletted{small, pal}, Delay: []int{0, 0}, Config: image.Config{Width: 7, Height: 5}}),
	}
	for o := byte(1); o <= 8; o++ {
		valid = append(valid, withOrientation(jpg, o))
	}
	for _, b := range testFiles(t) {
		valid = append(valid, b)
	}
	seeds := append([][]byte{}, valid...)
	for _, b := range valid {
		seeds = append(seeds, b[:len(b)/2], b[:min(len(b), 40)])
		for _, at := range []int{min(20, len(b)-1), len(b) / 2} {
			m := bytes.Clone(b)
			m[at] ^= 0x5a
			seeds = append(seeds, m)
		}
	}
	return seeds
}

// FuzzImage feeds arbitrary bytes to sniffing, header inspection, the
// estimate and decoding. None may panic; the estimate is never negative;
// whatever Inspect accepts, Decode either refuses or returns an image of
// the size Inspect read (turned by EXIF orientation 5-8 for a JPEG), and
// then the estimate covers at least its pixels.
func FuzzImage(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ct, sniffErr := Sniff(data)
		est, estErr := Estimate(bytes.NewReader(data))
		if estErr == nil && est < 0 {
			t.Fatalf("negative estimate %d", est)
		}
		info, err := Inspect(bytes.NewReader(data), fuzzMaxPixels)
		if err != nil {
			return
		}
		if sniffErr != nil || info.ContentType != ct {
			t.Fatalf("Inspect accepted %s, Sniff says %q, %v", info.ContentType, ct, sniffErr)
		}
		img, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		b := img.Bounds()
		switch {
		case b.Dx() == info.Width && b.Dy() == info.Height:
		case ct != "image/gif" && b.Dx() == info.Height && b.Dy() == info.Width:
			// EXIF orientation 5-8: Decode turned it upright.
		case ct == "image/gif" && b.In(image.Rect(0, 0, info.Width, info.Height)):
			// image/gif returns the first frame, which may be smaller than
			// the logical screen Inspect reads.
		default:
			t.Fatalf("%s: Inspect says %dx%d, Decode returned %v", ct, info.Width, info.Height, b)
		}

		// What decodes has an estimate, of at least 1 B/px for the pixels
		// and the preprocessing's 3: one read from other dimensions than
		// the decoder's would show here.
		if estErr != nil {
			t.Fatalf("Decode succeeded, Estimate failed: %v", estErr)
		}
		if least := int64(b.Dx()) * int64(b.Dy()) * (1 + preprocessBPP); est < least {
			t.Fatalf("estimate %d for a %v image, want at least %d", est, b, least)
		}

		// The budgeted decode returns the same image, narrowed.
		budget := NewBudget(1 << 20)
		img2, release, err := budget.Decode(context.Background(), bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Decode succeeded, Budget.Decode failed: %v", err)
		}
		release()
		if img2.Bounds() != b {
			t.Fatalf("Budget.Decode returned %v, Decode %v", img2.Bounds(), b)
		}
		if !budget.sem.TryAcquire(budget.Size()) {
			t.Fatal("Budget.Decode left bytes held")
		}
	})
}

// FuzzJPEGMemory: whatever bytes come, the memory JPEG decode does not
// crash, and where it decodes a file libvips' loader decodes too, to the
// same pixels.
func FuzzJPEGMemory(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if ct, err := Sniff(s); err == nil && ct == "image/jpeg" {
			f.Add(s, uint8(0))
			f.Add(s, uint8(3))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, scale uint8) {
		if info, err := Inspect(bytes.NewReader(data), fuzzMaxPixels); err != nil || info.ContentType != "image/jpeg" {
			return
		}
		shrink := 1 << (scale % 4)
		fast, viaVips, handled, err := jpegLoads(data, shrink)
		if !handled {
			return
		}
		if err != nil {
			t.Fatalf("1/%d: decoded from memory, but libvips refuses it: %v", shrink, err)
		}
		if !bytes.Equal(fast, viaVips) {
			t.Fatalf("1/%d: %d bytes of pixels from memory, %d from libvips, or they differ", shrink, len(fast), len(viaVips))
		}
	})
}

// FuzzDecodeShared: the caption job's decode and the derive job's never
// bring the process down, whatever a file that passed the upload's checks
// (Inspect, then Strip, whose output is what is stored) holds: libvips
// aborts on some impossible requests, as a 0 px scaled decode. (Unstripped,
// a 130-byte PNG whose text chunk claims 1.6 GB makes libpng allocate that
// much; Strip refuses it.)
func FuzzDecodeShared(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		info, err := Inspect(bytes.NewReader(raw), fuzzMaxPixels)
		if err != nil {
			return
		}
		var stripped bytes.Buffer
		if err := Strip(&stripped, bytes.NewReader(raw), info.ContentType); err != nil {
			return
		}
		data := stripped.Bytes()
		if px, err := DecodeForModel(data, ModelSideFor(info.Width, info.Height)); err == nil && px.Bounds().Empty() {
			t.Fatalf("%s %dx%d: empty model pixels", info.ContentType, info.Width, info.Height)
		}
		if ds, err := Derive(data); err == nil {
			for _, d := range ds {
				if d.Width < 1 || d.Height < 1 {
					t.Fatalf("%s %dx%d: %s size %dx%d", info.ContentType, info.Width, info.Height, d.Kind, d.Width, d.Height)
				}
			}
		}
	})
}
