package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

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
