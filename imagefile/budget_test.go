package imagefile

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const sw, sh = 300, 200 // size of the generated samples

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeGIF(t testing.TB, g *gif.GIF) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fill gives every pixel a different, partly transparent color so that the
// encoders keep the color type asked for.
func fill(m interface{ Set(x, y int, c color.Color) }, r image.Rectangle, alpha bool) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			a := uint16(0xffff)
			if alpha {
				a = uint16(x*y*97) | 0x0101
			}
			m.Set(x, y, color.NRGBA64{uint16(x * 211), uint16(y * 307), uint16((x + y) * 401), a})
		}
	}
}

// samples are real encoded files of each format and bit depth, with the
// estimate expected for each (the decoder's allocation, then the 3 B/px of
// preprocessing).
func samples(t testing.TB) []struct {
	name string
	data []byte
	want int64
} {
	r := image.Rect(0, 0, sw, sh)
	px := int64(sw * sh)
	nrgba64 := image.NewNRGBA64(r)
	fill(nrgba64, r, true)
	rgba64 := image.NewRGBA64(r)
	fill(rgba64, r, false)
	nrgba := image.NewNRGBA(r)
	fill(nrgba, r, true)
	rgba := image.NewRGBA(r)
	fill(rgba, r, false)
	gray, gray16 := image.NewGray(r), image.NewGray16(r)
	fill(gray, r, false)
	fill(gray16, r, false)
	pal := image.NewPaletted(r, color.Palette{color.Black, color.White, color.RGBA{200, 0, 0, 255}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 3)
	}
	// JPEG: one byte per sample over whole MCUs (8×8 gray; 16×16 for Go's
	// 4:2:0 colour), and 4 B/px for a turn by EXIF orientation.
	grayMCUs := int64((sw+7)/8) * int64((sh+7)/8)
	colorMCUs := int64((sw+15)/16) * int64((sh+15)/16)
	return []struct {
		name string
		data []byte
		want int64
	}{
		{"png 16-bit RGBA", encodePNG(t, nrgba64), px * (8 + 3)},
		{"png 16-bit RGB", encodePNG(t, rgba64), px * (8 + 3)},
		{"png 8-bit RGBA", encodePNG(t, nrgba), px * (4 + 3)},
		{"png 8-bit RGB", encodePNG(t, rgba), px * (4 + 3)},
		{"png gray", encodePNG(t, gray), px * (1 + 3)},
		{"png 16-bit gray", encodePNG(t, gray16), px * (2 + 3)},
		{"png paletted", encodePNG(t, pal), px * (1 + 3)},
		{"jpeg gray", encodeJPEG(t, gray), 64*grayMCUs + px*(4+3)},
		{"jpeg colour", encodeJPEG(t, rgba), 6*64*colorMCUs + px*(4+3)},
		{"gif", encodeGIF(t, &gif.GIF{Image: []*image.Paletted{pal, pal, pal}, Delay: []int{0, 0, 0}}), px * (1 + 3)},
	}
}

// testFiles are the files in testdata: progressive, CMYK, RGB, 4:1:0 and
// oriented JPEGs, interlaced and tRNS PNGs, WebP lossy, lossless and alpha.
func testFiles(t testing.TB) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob("testdata/*.*")
	if err != nil || len(names) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	files := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(n)] = b
	}
	return files
}

func TestEstimateFromHeaders(t *testing.T) {
	for _, s := range samples(t) {
		got, err := Estimate(bytes.NewReader(s.data))
		if err != nil || got != s.want {
			t.Errorf("%s: Estimate = %d, %v; want %d (%.1f B/px)", s.name, got, err, s.want, float64(s.want)/(sw*sh))
		}
	}
	// A few of the testdata files, worked out by hand.
	files := testFiles(t)
	for name, want := range map[string]int64{
		// 150×103, 4:2:0, progressive: 10×7 MCUs of 6 blocks, each
		// 64 B of samples and 256 B of coefficients.
		"video-001.q50.420.progressive.jpeg": 10*7*6*(64+256) + 150*103*(4+3),
		// 4-component CMYK, 1×1 sampling: 19×13 MCUs of 4 blocks, plus the
		// CMYK copy.
		"video-001.cmyk.jpeg": 19*13*4*64 + 150*103*(4+4+3),
		// 16-bit gray with tRNS decodes to NRGBA64.
		"ftbwn0g16.png": 32 * 32 * (8 + 3),
		// 1×16 4-bit gray, interlaced: an image per pass besides the result.
		"gray-gradient.interlaced.png": 1 * 16 * (2*1 + 3),
	} {
		got, err := Estimate(bytes.NewReader(files[name]))
		if err != nil || got != want {
			t.Errorf("%s: Estimate = %d, %v; want %d", name, got, err, want)
		}
	}
}

// The estimate must cover what decoding really allocates: counted by the
// runtime's total of allocated bytes, which also never subtracts what is
// freed meanwhile.
func TestEstimateCoversDecode(t *testing.T) {
	all := map[string][]byte{}
	for _, s := range samples(t) {
		all[s.name] = s.data
	}
	for name, b := range testFiles(t) {
		all[name] = b
	}
	for name, data := range all {
		est, err := Estimate(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		img, err := Decode(bytes.NewReader(data))
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		b := img.Bounds()
		used := int64(after.TotalAlloc-before.TotalAlloc) + int64(b.Dx()*b.Dy())*preprocessBPP
		// Decoders' fixed costs are not part of the estimate: buffers,
		// Huffman tables, and zlib's window and state (60-80 KB for PNG).
		const fixed = 96 << 10
		if used > est+fixed {
			t.Errorf("%s (%dx%d): decoding and preprocessing allocate %d bytes, estimate %d", name, b.Dx(), b.Dy(), used, est)
		}
	}
}

func TestEstimateRefusesWhatItCannotRead(t *testing.T) {
	pngb := encodePNG(t, image.NewGray(image.Rect(0, 0, 4, 4)))
	jpg := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 4, 4)))
	for name, data := range map[string][]byte{
		"text":          []byte("hello, not an image"),
		"png head only": pngb[:20],
		"jpeg no frame": jpg[:20],
		"webp head":     []byte("RIFF\x00\x00\x00\x00WEBPVP8 "),
	} {
		if n, err := Estimate(bytes.NewReader(data)); err == nil {
			t.Errorf("%s: estimate %d, want an error", name, n)
		}
	}
}

// With a budget of N, goroutines asking for various sizes never hold more
// than N together, and one asking for more than N holds it all, alone.
func TestBudgetBoundsConcurrentHolders(t *testing.T) {
	const size = 100
	b := NewBudget(size)
	var held, peak atomic.Int64
	var alone atomic.Bool
	alone.Store(true)
	var wg sync.WaitGroup
	for i := range 40 {
		n := int64(5 + i*7%60)
		if i == 17 {
			n = 10 * size // larger than the whole budget
		}
		wg.Go(func() {
			release, err := b.Acquire(context.Background(), n)
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			charge := min(n, size)
			now := held.Add(charge)
			for {
				p := peak.Load()
				if now <= p || peak.CompareAndSwap(p, now) {
					break
				}
			}
			if n > size && now != size {
				alone.Store(false)
			}
			time.Sleep(time.Millisecond)
			held.Add(-charge)
		})
	}
	wg.Wait()
	if p := peak.Load(); p > size {
		t.Errorf("%d bytes held at once with a budget of %d", p, size)
	}
	if peak.Load() <= 60 {
		t.Errorf("peak %d: requests never ran side by side", peak.Load())
	}
	if !alone.Load() {
		t.Error("the request larger than the budget shared it")
	}
	// Everything was released.
	if err := b.sem.Acquire(context.Background(), size); err != nil {
		t.Fatal(err)
	}
}

func TestBudgetAcquireHonoursContextAndReleasesOnce(t *testing.T) {
	b := NewBudget(10)
	release, err := b.Acquire(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Acquire(ctx, 1); err == nil {
		t.Fatal("acquired from a full budget")
	}
	release()
	release() // a second call must not free bytes someone else holds
	r2, err := b.Acquire(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if b.sem.TryAcquire(1) {
		t.Fatal("the second release freed bytes again")
	}
	r2()

	var none *Budget // a nil budget limits nothing
	r, err := none.Acquire(context.Background(), 1<<60)
	if err != nil {
		t.Fatal(err)
	}
	r()
}

func TestBudgetDecode(t *testing.T) {
	b := NewBudget(1 << 20)
	r := image.Rect(0, 0, 40, 30)
	src := image.NewNRGBA64(r)
	fill(src, r, true)
	img, release, err := b.Decode(context.Background(), bytes.NewReader(encodePNG(t, src)))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := img.(*image.NRGBA); !ok || m.Bounds() != r {
		t.Fatalf("decoded %T %v, want the 16-bit PNG narrowed to *image.NRGBA %v", img, img.Bounds(), r)
	}
	if b.sem.TryAcquire(b.Size()) {
		t.Fatal("the estimate is not held while the image is in use")
	}
	release()
	if !b.sem.TryAcquire(b.Size()) {
		t.Fatal("release left bytes held")
	}
	b.sem.Release(b.Size())

	_, release, err = b.Decode(context.Background(), strings.NewReader("plain text, no image"))
	if err == nil || !strings.Contains(err.Error(), "not a JPEG") {
		t.Fatalf("err %v", err)
	}
	release()
	if !b.sem.TryAcquire(b.Size()) {
		t.Fatal("a failed decode left bytes held")
	}
}

// narrow must give the values inference's preprocessing got before it, when
// it converted each 16-bit pixel with color.NRGBAModel.
func TestNarrowMatchesNRGBAModel(t *testing.T) {
	r := image.Rect(0, 0, 64, 48)
	rnd := rand.New(rand.NewPCG(1, 2))
	nrgba64, rgba64, gray16 := image.NewNRGBA64(r), image.NewRGBA64(r), image.NewGray16(r)
	for i := range nrgba64.Pix {
		nrgba64.Pix[i] = uint8(rnd.Uint32())
		rgba64.Pix[i] = uint8(rnd.Uint32())
	}
	for i := range gray16.Pix {
		gray16.Pix[i] = uint8(rnd.Uint32())
	}
	// Edge alphas: transparent and opaque.
	copy(nrgba64.Pix[6:8], []byte{0, 0})
	copy(nrgba64.Pix[14:16], []byte{0xff, 0xff})
	for _, src := range []image.Image{nrgba64, rgba64, gray16} {
		want := make([]color.NRGBA, 0, r.Dx()*r.Dy())
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				want = append(want, color.NRGBAModel.Convert(src.At(x, y)).(color.NRGBA))
			}
		}
		got := narrow(src)
		if got.Bounds() != r {
			t.Fatalf("%T: bounds %v", src, got.Bounds())
		}
		i := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				c := color.NRGBAModel.Convert(got.At(x, y)).(color.NRGBA)
				if c != want[i] {
					t.Fatalf("%T → %T at %d,%d: %v, want %v", src, got, x, y, c, want[i])
				}
				i++
			}
		}
	}
}
