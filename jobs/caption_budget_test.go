package jobs_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/imagefile"
	"captionai/inference"
	"captionai/jobs"
	"captionai/storage"
	"captionai/testutil"
	"captionai/vocab"
)

// countingModel records how many captions run at once and what it was given.
type countingModel struct {
	mu       sync.Mutex
	running  int
	peak     int
	received []string
}

func (m *countingModel) Caption(ctx context.Context, img image.Image) (inference.Result, error) {
	m.mu.Lock()
	m.running++
	m.peak = max(m.peak, m.running)
	m.received = append(m.received, fmt.Sprintf("%T %dx%d", img, img.Bounds().Dx(), img.Bounds().Dy()))
	m.mu.Unlock()
	time.Sleep(150 * time.Millisecond) // long enough for the other workers to start theirs
	m.mu.Lock()
	m.running--
	m.mu.Unlock()
	return inference.Result{Text: "a test pattern"}, nil
}

func (m *countingModel) Name() string { return "counting" }

// png16 is a 16-bit RGBA PNG: its decode estimate is 11 B/px.
func png16(t *testing.T, w, h int) []byte {
	m := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 300), uint16(y * 300), 0x8000, 0xf000})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// captionAll runs five caption jobs for 16-bit PNGs on a real worker (River
// on Postgres, four caption workers) with the given decode budget, and
// returns the model's record once every image is captioned.
func captionAll(t *testing.T, budget *imagefile.Budget) *countingModel {
	pool, _ := testutil.NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := db.New(pool)
	files, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	batch := uuid.New()
	var imgs []db.Image
	// 200×200 estimates 440 kB; the 300×300 one (990 kB) is larger than the
	// budget below and must still be captioned.
	for i, size := range []int{200, 200, 200, 200, 300} {
		data := png16(t, size, size)
		img := db.Image{ID: uuid.New(), BatchID: batch, ContentType: "image/png", OriginalName: fmt.Sprintf("%d.png", i),
			SizeBytes: int64(len(data)), Width: size, Height: size, Visibility: vocab.Public}
		img.StorageKey = "images/" + img.ID.String() + ".png"
		if _, err := files.Put(ctx, img.StorageKey, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}

	model := &countingModel{}
	client, err := jobs.NewWorker(pool, jobs.WorkerConfig{
		DB: store, Files: files, Model: model, Sessions: 4, JobTimeout: time.Minute,
		Log: testutil.Logger(t), DecodeBudget: budget,
	})
	if err != nil {
		t.Fatal(err)
	}
	queueCaptions(t, store, client, imgs)
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer client.Stop(context.Background())

	for {
		got, err := store.Batch(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, img := range got {
			if img.Status == vocab.Failed {
				t.Fatalf("%s failed: %s", img.OriginalName, img.Error)
			}
			if img.Status == vocab.Captioned {
				done++
			}
		}
		if done == len(imgs) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d images captioned in time", done, len(imgs))
		case <-time.After(20 * time.Millisecond):
		}
	}
	return model
}

// Caption jobs share the decode budget: with room for one of these images
// at a time, four workers caption them one by one, and the image larger
// than the whole budget still runs (alone).
func TestCaptionJobsShareDecodeBudget(t *testing.T) {
	t.Parallel()
	model := captionAll(t, imagefile.NewBudget(600_000))
	if model.peak != 1 {
		t.Errorf("%d images decoded and captioned at once; the budget has room for one", model.peak)
	}
	for _, r := range model.received {
		// 16-bit PNGs reach the model as 8-bit NRGBA (imagefile's narrow).
		if r != "*image.NRGBA 200x200" && r != "*image.NRGBA 300x300" {
			t.Errorf("the model got %s", r)
		}
	}
}

// The same jobs with a budget that fits them all do run side by side: the
// test above would notice a worker that ignored its budget.
func TestCaptionJobsRunTogetherWithinBudget(t *testing.T) {
	t.Parallel()
	model := captionAll(t, imagefile.NewBudget(1<<30))
	if model.peak < 2 {
		t.Errorf("peak concurrency %d with a budget that fits every image", model.peak)
	}
}

// queueCaptions inserts imgs and their caption jobs in one transaction,
// as an upload does.
func queueCaptions(t *testing.T, store *db.Store, client *jobs.Client, imgs []db.Image) {
	t.Helper()
	ctx := context.Background()
	tx, err := store.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for i := range imgs {
		res, err := client.InsertTx(ctx, tx, jobs.CaptionArgs{ImageID: imgs[i].ID}, nil)
		if err != nil {
			t.Fatal(err)
		}
		imgs[i].JobID = &res.Job.ID
	}
	if err := db.InsertImagesTx(ctx, tx, imgs); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
