package jobs_test

import (
	"bytes"
	"context"
	"image"
	"testing"
	"time"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/inference"
	"captionai/jobs"
	"captionai/storage"
	"captionai/testutil"
	"captionai/vocab"
)

// calibrated is a captioner that measures its confidence.
type calibrated struct {
	confidence float64
	certainty  string
}

func (m calibrated) Caption(context.Context, image.Image) (inference.Result, error) {
	c := m.confidence
	return inference.Result{Text: "a dog runs on grass", Confidence: &c, Certainty: m.certainty}, nil
}

func (calibrated) Name() string { return "calibrated" }

// The caption job stores the model's confidence and certainty with its
// caption, as the caption's version: the image and its history read them.
func TestCaptionJobStoresConfidence(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := db.New(pool)
	files, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := png16(t, 8, 8)
	img := db.Image{ID: uuid.New(), BatchID: uuid.New(), ContentType: "image/png", OriginalName: "a.png",
		SizeBytes: int64(len(data)), Width: 8, Height: 8, Visibility: vocab.Public}
	img.StorageKey = "images/" + img.ID.String() + ".png"
	if _, err := files.Put(ctx, img.StorageKey, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	client, err := jobs.NewWorker(pool, jobs.WorkerConfig{
		DB: store, Files: files, Model: calibrated{0.42, vocab.Probable}, Sessions: 1, JobTimeout: time.Minute,
		Log: testutil.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	queueCaptions(t, store, client, []db.Image{img})
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer client.Stop(context.Background())

	var got db.Image
	for {
		if got, err = store.Image(ctx, img.ID); err != nil {
			t.Fatal(err)
		}
		if got.Finished() {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("not captioned in time")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if got.Status != vocab.Captioned || got.Confidence == nil || *got.Confidence != 0.42 || got.Certainty != vocab.Probable {
		t.Fatalf("stored %s, confidence %v, certainty %q (%s)", got.Status, got.Confidence, got.Certainty, got.Error)
	}
	hist, err := store.CaptionHistory(ctx, img.ID)
	if err != nil || len(hist) != 1 || hist[0].Confidence == nil || *hist[0].Confidence != 0.42 || hist[0].Certainty != vocab.Probable {
		t.Fatalf("history %+v, %v", hist, err)
	}
}
