package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/image/draw"

	"captionai/config"
	"captionai/testutil"
)

// BenchmarkUploadToCaption uploads one photo per iteration and waits for its
// caption over SSE. It reports medians of the end-to-end time, of the model's
// own time (encoder, decoder, total), and of the overhead: end-to-end minus
// inference, i.e. upload, queueing, River, the database and the SSE path.
// Run with -benchtime 50x for the median of 50 uploads.
func BenchmarkUploadToCaption(b *testing.B) {
	s := start(b, opts{roles: both})
	jpg := testutil.JPEG(b, 320, 240)
	var e2e, overhead, enc, dec, total []float64
	for b.Loop() {
		begin := time.Now()
		res := post(b, s.URL, []file{{"bench.jpg", jpg}}, nil)
		id := location(b, res, "/images/")
		events(b, s.URL+"/images/"+id+"/events", 30*time.Second)
		elapsed := float64(time.Since(begin)) / float64(time.Millisecond)

		var encMS, decMS, totMS float64
		if err := s.app.Pool.QueryRow(context.Background(),
			"SELECT encode_ms, decode_ms, total_ms FROM images WHERE id = $1 AND status = 'captioned'", id).Scan(&encMS, &decMS, &totMS); err != nil {
			b.Fatal(err)
		}
		e2e = append(e2e, elapsed)
		overhead = append(overhead, elapsed-totMS)
		enc, dec, total = append(enc, encMS), append(dec, decMS), append(total, totMS)
	}
	b.ReportMetric(median(e2e), "e2e-ms")
	b.ReportMetric(median(overhead), "overhead-ms")
	b.ReportMetric(median(enc), "encoder-ms")
	b.ReportMetric(median(dec), "decoder-ms")
	b.ReportMetric(median(total), "inference-ms")
	b.ReportMetric(0, "ns/op")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkGalleryPageWeight is issue 16's page-weight target: the bytes
// Chromium transfers (HTML, CSS, scripts, images; Resource Timing's
// transferSize, cache disabled) for the first page of /gallery, holding 24
// public 12 MP phone photos (4000x3000 q90, made from Flickr8k test photos
// as inference's BenchmarkPhoneCaption makes its one), at 1280 and 390 px
// wide (device pixel ratio 1; 390 also at 3, as phones have it). Targets:
// under 1 MB at 1280, under 500 KB at 390. The home page (its 8 latest
// photos) is measured at 1280 too.
//
// The weight does not change between loads, so it is measured once and
// the b.N iterations are empty.
func BenchmarkGalleryPageWeight(b *testing.B) {
	photos := phonePhotos(b, 24)
	s := start(b, opts{roles: both, tweak: func(c *config.Config) { c.MaxUploadBytes = 64 << 20 }})
	for i, p := range photos {
		res := postPublic(b, s.URL, fmt.Sprintf("phone-%02d.jpg", i), p)
		if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
			b.Fatalf("upload %d: %s", i, res.Status)
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var n int
		if err := s.app.Pool.QueryRow(context.Background(),
			`SELECT count(*) FROM images i WHERE status = 'captioned'
			 AND (SELECT count(*) FROM image_derivatives d WHERE d.image_id = i.id) = 2`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n == len(photos) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d photos captioned and sized after 3 minutes", n, len(photos))
		}
		time.Sleep(200 * time.Millisecond)
	}

	ctx := browser(b)
	if err := chromedp.Run(ctx, network.Enable(), network.SetCacheDisabled(true)); err != nil {
		b.Fatal(err)
	}
	measure := func(path string, width, height int64, dpr float64) (total, images, count float64) {
		var r []float64
		err := steps(ctx,
			emulation.SetDeviceMetricsOverride(width, height, dpr, width < 600),
			chromedp.Navigate(s.URL+path),
			chromedp.WaitVisible(`#gallery img`, chromedp.ByQuery),
			// Let lazy images that layout puts in view start and finish.
			chromedp.Sleep(1500*time.Millisecond),
			chromedp.Evaluate(`(() => {
				const nav = performance.getEntriesByType('navigation')[0];
				let total = nav.transferSize, imgs = 0, n = 0;
				for (const e of performance.getEntriesByType('resource')) {
					total += e.transferSize;
					if (e.initiatorType === 'img') { imgs += e.transferSize; n++; }
				}
				const tiles = document.querySelectorAll('#gallery img');
				const lazy = [...tiles].filter(i => i.loading === 'lazy').length;
				return [total, imgs, n, tiles.length, lazy, innerWidth, devicePixelRatio];
			})()`, &r),
		)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s %dx%d@%gx: %.0f gallery images in the page (%.0f lazy), innerWidth %.0f, devicePixelRatio %g",
			path, width, height, dpr, r[3], r[4], r[5], r[6])
		return r[0], r[1], r[2]
	}
	type weight struct {
		name     string
		bytes, n float64
	}
	var weights []weight
	for _, v := range []struct {
		name, path    string
		width, height int64
		dpr           float64
	}{{"1280px", "/gallery", 1280, 800, 1}, {"390px", "/gallery", 390, 844, 1}, {"390px@3x", "/gallery", 390, 844, 3},
		// The home page's 8 latest photos.
		{"home-1280px", "/", 1280, 800, 1}} {
		total, imgs, n := measure(v.path, v.width, v.height, v.dpr)
		weights = append(weights, weight{v.name, total, n})
		b.Logf("%s: %.0f bytes in all, %.0f of them in %.0f images", v.name, total, imgs, n)
	}
	var orig int
	for _, p := range photos {
		orig += len(p)
	}
	for b.Loop() {
	}
	// After the loop: its start clears reported metrics.
	for _, w := range weights {
		b.ReportMetric(w.bytes/1000, w.name+"-kB")
		b.ReportMetric(w.n, w.name+"-imgs")
	}
	b.ReportMetric(float64(orig)/1e6, "originals-MB")
	b.ReportMetric(0, "ns/op")
}

// postPublic uploads one file as public.
func postPublic(b *testing.B, url, name string, data []byte) *http.Response {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("visibility", "public")
	fw, err := mw.CreateFormFile("image", name)
	if err != nil {
		b.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	req, err := http.NewRequest("POST", url+"/images", &body)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// phonePhotos are n 12 MP JPEGs made from the first n Flickr8k test
// photos: upscaled to 4000x3000, with pixel noise so they compress like
// photos (about 3 MB each), q90, with an EXIF orientation of 1.
func phonePhotos(b *testing.B, n int) [][]byte {
	dir := config.Test().Flickr8kDir
	if dir == "" {
		dir = filepath.Join(testutil.RepoRoot(b), "..", "shared", "datasets", "flickr8k")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "splits", "test.txt"))
	if err != nil {
		b.Skipf("Flickr8k not found at %s (set FLICKR8K_DIR): %v", dir, err)
	}
	names := strings.Fields(string(raw))[:n]
	out := make([][]byte, n)
	errs := make([]error, n)
	sem := make(chan struct{}, runtime.NumCPU())
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = func() error {
				f, err := os.Open(filepath.Join(dir, "images", name))
				if err != nil {
					return err
				}
				defer f.Close()
				src, _, err := image.Decode(f)
				if err != nil {
					return err
				}
				up := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
				draw.ApproxBiLinear.Scale(up, up.Bounds(), src, src.Bounds(), draw.Src, nil)
				rng := rand.New(rand.NewPCG(16, uint64(i)))
				for j := 0; j < len(up.Pix); j += 4 {
					for c := range 3 {
						v := int(up.Pix[j+c]) + rng.IntN(25) - 12
						up.Pix[j+c] = uint8(min(max(v, 0), 255))
					}
				}
				var buf bytes.Buffer
				if err := jpeg.Encode(&buf, up, &jpeg.Options{Quality: 90}); err != nil {
					return err
				}
				out[i] = buf.Bytes()
				return nil
			}()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	return out
}
