package inference_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/image/draw"

	"captionai/config"
	"captionai/imagefile"
	"captionai/inference"
	"captionai/testutil"
)

// BenchmarkPhoneCaption is issue 16's first target: a 12 MP phone JPEG
// (4000x3000, q90, EXIF orientation 3) captioned end to end within 1.5x
// the time of the 256 px Flickr8k photo it was made from, on one core.
// A 1/8 decode still reads every Huffman code, so the time grows with the
// file's weight: it is measured on two files. The heavy one (3.1 MB, pixel
// noise) is a noisy phone photo; the light one (0.9 MB, the same upscale
// without noise) is what the issue measured on, whose 1/8 decode it gives
// as 11 ms.
//
// Each iteration takes both files through what the caption job does with
// them (jobs.CaptionWorker.decode and caption): imagefile.DecodeForModel
// (shrink-on-load decode, a 12 MP JPEG at 1/8, orientation after the
// shrink) and the default model's Caption on its pixels; the time is
// upload-to-caption work. Then, untimed there, what the derive job the
// caption queues does: imagefile.Derive (its own 1/2-scale decode, the
// 480 and 1600 px WebP sizes). Storage and the database are left out.
// The two files are interleaved so both see the same machine; the metrics
// are per-iteration medians. 12mp-total-ms is all the work a 12 MP photo
// costs, caption and sizes. 12mp-jpeg-ms is libjpeg-turbo's 1/8 decode of
// the 12 MP file alone (imagefile.DecodeJPEGOnly), which no pipeline on one
// core goes under, and floor-12mp/256px the ratio that would leave.
func BenchmarkPhoneCaption(b *testing.B) {
	small, big, light := phoneFiles(b)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	m := defaultModel(b, 1) // one session, one ORT thread
	ctx := context.Background()
	caption := func(file []byte) (time.Duration, time.Duration, inference.Result, image.Image) {
		start := time.Now()
		px, err := imagefile.DecodeForModel(file, 0)
		if err != nil {
			b.Fatal(err)
		}
		decode := time.Since(start)
		res, err := m.Caption(ctx, px)
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start), decode, res, px
	}
	sizes := func(file []byte) (time.Duration, []imagefile.Derivative) {
		start := time.Now()
		ds, err := imagefile.Derive(file)
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start), ds
	}
	// Warm up libvips and the sessions outside the timings.
	caption(small)
	caption(big)
	caption(light)
	sizes(big)

	var tSmall, tBig, decodeBig, inferBig, sizesSmall, sizesBig, totalBig, floorBig, tLight, floorLight []time.Duration
	var capSmall, capBig string
	var pxBig image.Image
	var dsBig []imagefile.Derivative
	for b.Loop() {
		t, _, res, _ := caption(small)
		tSmall, capSmall = append(tSmall, t), res.Text
		st, _ := sizes(small)
		sizesSmall = append(sizesSmall, st)
		t, dec, res, px := caption(big)
		tBig, decodeBig, inferBig, capBig, pxBig = append(tBig, t), append(decodeBig, dec), append(inferBig, res.Total), res.Text, px
		st, dsBig = sizes(big)
		sizesBig, totalBig = append(sizesBig, st), append(totalBig, t+st)
		start := time.Now()
		if err := imagefile.DecodeJPEGOnly(big, 8); err != nil {
			b.Fatal(err)
		}
		floorBig = append(floorBig, time.Since(start))
		t, _, _, _ = caption(light)
		tLight = append(tLight, t)
		start = time.Now()
		if err := imagefile.DecodeJPEGOnly(light, 8); err != nil {
			b.Fatal(err)
		}
		floorLight = append(floorLight, time.Since(start))
	}
	if len(dsBig) > 0 {
		v := dsBig[len(dsBig)-1]
		b.Logf("12 MP: %d bytes (light: %d), view %dx%d, pixels %v; captions: 256 px %q, 12 MP %q",
			len(big), len(light), v.Width, v.Height, pxBig.Bounds().Size(), capSmall, capBig)
	}
	ms := func(d []time.Duration) float64 { return percentile(d, .5) }
	b.ReportMetric(ms(tSmall), "256px-ms")
	b.ReportMetric(ms(tBig), "12mp-ms")
	b.ReportMetric(ms(tBig)/ms(tSmall), "12mp/256px")
	b.ReportMetric(ms(decodeBig), "12mp-decode-ms")
	// The 12 MP photo's own floor: libjpeg-turbo's 1/8 decode alone, which
	// must read every Huffman code of the file; and the ratio if the photo
	// cost nothing more than that beside the 256 px caption.
	b.ReportMetric(ms(floorBig), "12mp-jpeg-ms")
	b.ReportMetric((ms(tSmall)+ms(floorBig))/ms(tSmall), "floor-12mp/256px")
	b.ReportMetric(ms(inferBig), "12mp-infer-ms")
	b.ReportMetric(ms(sizesSmall), "256px-sizes-ms")
	b.ReportMetric(ms(sizesBig), "12mp-sizes-ms")
	b.ReportMetric(ms(totalBig), "12mp-total-ms")
	b.ReportMetric(ms(tLight), "12mp-light-ms")
	b.ReportMetric(ms(tLight)/ms(tSmall), "12mp-light/256px")
	b.ReportMetric(ms(floorLight), "12mp-light-jpeg-ms")
	b.ReportMetric(0, "ns/op")
}

// phoneFiles are the first Flickr8k test photo's own file (256 px on its
// long side in the dataset copy) and two 12 MP phone JPEGs made from it
// deterministically: upscaled to 4000x3000, stored upside down and encoded
// at q90 with an EXIF orientation of 3 (turn 180°), so that libvips has to
// turn them. big has ±12 pixel noise, so it weighs what a noisy photo does
// (about 3 MB); light has none (about 0.9 MB). Without the dataset the
// small file is a synthetic 256x192 JPEG.
func phoneFiles(b *testing.B) (small, big, light []byte) {
	b.Helper()
	var src image.Image
	if dir := benchDataset(b); dir != "" {
		name := readLines(b, filepath.Join(dir, "splits", "test.txt"))[0]
		var err error
		if small, err = os.ReadFile(filepath.Join(dir, "images", name)); err != nil {
			b.Fatal(err)
		}
		if src, err = imagefile.Decode(bytes.NewReader(small)); err != nil {
			b.Fatal(err)
		}
	} else {
		img := image.NewRGBA(image.Rect(0, 0, 256, 192))
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 7)
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			b.Fatal(err)
		}
		small, src = buf.Bytes(), img
	}
	return small, phoneJPEG(b, src, 12), phoneJPEG(b, src, 0)
}

// phoneJPEG is src upscaled to 4000x3000 with ±noise added to each channel,
// as an upside-down q90 JPEG with EXIF orientation 3.
func phoneJPEG(b *testing.B, src image.Image, noise int) []byte {
	up := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
	draw.ApproxBiLinear.Scale(up, up.Bounds(), src, src.Bounds(), draw.Src, nil)
	rng := rand.New(rand.NewPCG(16, 12))
	for i := 0; noise > 0 && i < len(up.Pix); i += 4 {
		for c := range 3 {
			v := int(up.Pix[i+c]) + rng.IntN(2*noise+1) - noise
			up.Pix[i+c] = uint8(min(max(v, 0), 255))
		}
	}
	// Stored upside down, as orientation 3 says: upright once turned, so
	// the model sees the photo the 256 px file shows.
	px := up.Pix
	for i, j := 0, len(px)-4; i < j; i, j = i+4, j-4 {
		for c := range 4 {
			px[i+c], px[j+c] = px[j+c], px[i+c]
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, up, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return withOrientation(buf.Bytes(), 3)
}

// benchDataset is the Flickr8k folder benchImages uses, or "" without it.
func benchDataset(b *testing.B) string {
	dir := config.Test().Flickr8kDir
	if dir == "" {
		dir = filepath.Join(testutil.RepoRoot(b), "..", "shared", "datasets", "flickr8k")
	}
	if _, err := os.Stat(filepath.Join(dir, "splits", "test.txt")); err != nil {
		return ""
	}
	return dir
}

// withOrientation puts an EXIF APP1 segment holding only the orientation
// tag right after a JPEG's SOI marker.
func withOrientation(file []byte, orientation uint16) []byte {
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08")  // big-endian, IFD0 at 8
	tiff = binary.BigEndian.AppendUint16(tiff, 1) // one entry
	tiff = binary.BigEndian.AppendUint16(tiff, 0x0112)
	tiff = binary.BigEndian.AppendUint16(tiff, 3) // SHORT
	tiff = binary.BigEndian.AppendUint32(tiff, 1)
	tiff = binary.BigEndian.AppendUint16(tiff, orientation)
	tiff = append(tiff, 0, 0, 0, 0, 0, 0) // value padding, no next IFD
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := binary.BigEndian.AppendUint16([]byte{0xff, 0xe1}, uint16(len(seg)+2))
	return slices.Concat(file[:2], app1, seg, file[2:])
}
