package jobs_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"

	"captionai/db"
	"captionai/imagefile"
	"captionai/jobs"
	"captionai/storage"
	"captionai/testutil"
	"captionai/vocab"
)

// sideways is a w×h JPEG whose EXIF orientation says "turn 90° clockwise",
// as a phone held upright writes.
func sideways(t *testing.T, w, h int) []byte {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 90, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	jpg := b.Bytes()
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x01" +
		"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00" + // Orientation = 6
		"\x00\x00\x00\x00")
	payload := append([]byte("Exif\x00\x00"), tiff...)
	n := len(payload) + 2
	out := append([]byte{}, jpg[:2]...)
	out = append(out, 0xFF, 0xE1, byte(n>>8), byte(n))
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// storedImage puts data in files and returns its image row (not inserted).
func storedImage(t *testing.T, files storage.Store, data []byte, w, h int) db.Image {
	t.Helper()
	img := db.Image{ID: uuid.New(), BatchID: uuid.New(), ContentType: "image/jpeg", OriginalName: "phone.jpg",
		SizeBytes: int64(len(data)), Width: w, Height: h, Visibility: vocab.Public}
	img.StorageKey = "images/" + img.ID.String() + ".jpg"
	if _, err := files.Put(context.Background(), img.StorageKey, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return img
}

// fileless is an image row (not inserted) whose file was never stored.
func fileless(name string) db.Image {
	return db.Image{ID: uuid.New(), BatchID: uuid.New(), ContentType: "image/jpeg", OriginalName: name,
		SizeBytes: 1, Width: 1, Height: 1, Visibility: vocab.Public, StorageKey: "images/" + name}
}

func checkDerivatives(t *testing.T, ctx context.Context, files storage.Store, ds []db.Derivative, want map[string][2]int) {
	t.Helper()
	if len(ds) != len(want) {
		t.Fatalf("derivatives %+v, want %v", ds, want)
	}
	for _, d := range ds {
		if got := [2]int{d.Width, d.Height}; got != want[d.Kind] {
			t.Errorf("%s is %v, want %v", d.Kind, got, want[d.Kind])
		}
		if d.ContentType != imagefile.DerivativeType || !strings.HasPrefix(d.StorageKey, "derivatives/") || !strings.Contains(d.StorageKey, d.SHA256[:32]) {
			t.Errorf("%s: type %s, key %s", d.Kind, d.ContentType, d.StorageKey)
		}
		n, err := storage.Stat(ctx, files, d.StorageKey)
		if err != nil || n != d.SizeBytes {
			t.Errorf("%s: stored %d bytes (%v), recorded %d", d.Kind, n, err, d.SizeBytes)
		}
	}
}

// A caption job queues a derive job, which makes the card and view sizes
// of a 2400×1200 phone photo held upright (EXIF orientation 6): fitted to
// 480 and 1600 px on their long side and turned upright. A new caption
// keeps them, and deleting the image deletes their files through
// delete_files.
func TestCaptionJobMakesDerivativesAndDeletionRemovesThem(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := db.New(pool)
	dir := t.TempDir()
	files, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	img := storedImage(t, files, sideways(t, 2400, 1200), 1200, 2400)
	client, err := jobs.NewWorker(pool, jobs.WorkerConfig{
		DB: store, Files: files, Model: calibrated{0.9, vocab.Sure}, Sessions: 1, JobTimeout: time.Minute,
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

	if got := waitFinished(t, ctx, store, img.ID); got.Status != vocab.Captioned {
		t.Fatalf("status %s: %s", got.Status, got.Error)
	}
	got := waitDerivatives(t, ctx, store, img.ID)
	checkDerivatives(t, ctx, files, got.Derivatives, map[string][2]int{imagefile.Card: {240, 480}, imagefile.View: {800, 1600}})
	if got.Derivatives[0].Kind != imagefile.Card {
		t.Errorf("derivatives not smallest first: %+v", got.Derivatives)
	}

	// A new caption (regenerate) keeps the sizes it has: nothing remade,
	// nothing to delete.
	rtx, err := store.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.InsertTx(ctx, rtx, jobs.CaptionArgs{ImageID: img.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RequeueImageTx(ctx, rtx, img.ID, res.Job.ID, vocab.Captioned); err != nil {
		t.Fatal(err)
	}
	if err := rtx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	again := waitFinished(t, ctx, store, img.ID)
	var deletions, derives int
	pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'delete_files'`).Scan(&deletions)
	pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'derive'`).Scan(&derives)
	if again.Status != vocab.Captioned || len(again.Derivatives) != 2 || again.Derivatives[0] != got.Derivatives[0] ||
		again.Derivatives[1] != got.Derivatives[1] || deletions != 0 || derives != 1 {
		t.Errorf("after a new caption: %s, %+v, %d deletions and %d derive jobs queued", again.Status, again.Derivatives, deletions, derives)
	}

	tx, err := store.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := db.DeleteImageTx(ctx, tx, img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0] != img.StorageKey || keys[1] != db.DerivativeFolder(img.ID) {
		t.Fatalf("deleting returned keys %v, want the original and its derivatives' folder", keys)
	}
	// A file a derive job stored and never recorded (it crashed before
	// that) goes with the folder.
	stray := db.DerivativeKey(img.ID, imagefile.View, strings.Repeat("0", 64))
	if _, err := files.Put(ctx, stray, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	keys = append(keys, stray)
	for _, d := range got.Derivatives {
		keys = append(keys, d.StorageKey)
	}
	if _, err := client.InsertTx(ctx, tx, jobs.DeleteFilesArgs{Keys: keys[:2]}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var left int
	pool.QueryRow(ctx, `SELECT count(*) FROM image_derivatives`).Scan(&left)
	if left != 0 {
		t.Errorf("%d derivative rows left", left)
	}
	for _, k := range keys {
		for {
			if _, err := os.Stat(filepath.Join(dir, k)); os.IsNotExist(err) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s not deleted", k)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// waitDerivatives waits for the image's derive job to store its sizes.
func waitDerivatives(t *testing.T, ctx context.Context, store *db.Store, id uuid.UUID) db.Image {
	t.Helper()
	return waitImage(t, ctx, store, id, "no display sizes", func(img db.Image) bool {
		return len(img.Derivatives) == len(imagefile.DerivativeKinds)
	})
}

// A derive job for an image deleted since, or whose file is gone, has
// nothing to do; a second one for an image that has its sizes changes
// nothing.
func TestDeriveJobSkipsWhatIsGoneOrDone(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	ctx := context.Background()
	store := db.New(pool)
	files, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img := storedImage(t, files, testutil.JPEG(t, 640, 480), 640, 480)
	lost := fileless("lost.jpg")
	tx, _ := store.Begin(ctx)
	if err := db.InsertImagesTx(ctx, tx, []db.Image{img, lost}); err != nil {
		t.Fatal(err)
	}
	tx.Commit(ctx)
	w := rivertest.NewWorker(t, riverpgxv5.New(pool), &river.Config{}, &jobs.DeriveWorker{DB: store, Deriver: jobs.Deriver{Files: files}})
	work := func(id uuid.UUID) {
		t.Helper()
		jtx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer jtx.Rollback(ctx)
		res, err := w.Work(ctx, t, jtx, jobs.DeriveArgs{ImageID: id}, nil)
		if err != nil || res.EventKind != river.EventKindJobCompleted {
			t.Fatalf("derive %s: %v %v", id, res, err)
		}
		if err := jtx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Deleted: files an earlier attempt stored after the delete took the
	// folder are taken again.
	deleted := uuid.New()
	work(deleted)
	var folders []string
	pool.QueryRow(ctx, `SELECT array_agg(args->'keys'->>0) FROM river_job WHERE kind = 'delete_files'`).Scan(&folders)
	if len(folders) != 1 || folders[0] != db.DerivativeFolder(deleted) {
		t.Errorf("a deleted image's derive job queued deletion of %v, want its folder", folders)
	}
	work(lost.ID) // its file is gone
	work(img.ID)
	first, err := store.Image(ctx, img.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkDerivatives(t, ctx, files, first.Derivatives, map[string][2]int{imagefile.Card: {480, 360}, imagefile.View: {640, 480}})
	work(img.ID)
	second, _ := store.Image(ctx, img.ID)
	var rows int
	pool.QueryRow(ctx, `SELECT count(*) FROM image_derivatives`).Scan(&rows)
	if rows != 2 || second.Derivatives[0] != first.Derivatives[0] || second.Derivatives[1] != first.Derivatives[1] {
		t.Errorf("%d rows; a second run changed the sizes: %+v, then %+v", rows, first.Derivatives, second.Derivatives)
	}
}

func waitFinished(t *testing.T, ctx context.Context, store *db.Store, id uuid.UUID) db.Image {
	t.Helper()
	return waitImage(t, ctx, store, id, "not captioned", db.Image.Finished)
}

// waitImage polls the image until ok, failing with what at ctx's end.
func waitImage(t *testing.T, ctx context.Context, store *db.Store, id uuid.UUID, what string, ok func(db.Image) bool) db.Image {
	t.Helper()
	for {
		got, err := store.Image(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(got) {
			return got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s in time: %+v", what, got)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// The backfill queues a derive job for each captioned image without its
// sizes (not for one still queued for its caption), once: a second run
// finds them queued, and one for a file that failed every attempt is not
// queued again while River keeps it.
func TestBackfillQueuesDeriveJobsOnce(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	ctx := context.Background()
	store := db.New(pool)
	files, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old := storedImage(t, files, testutil.JPEG(t, 256, 192), 256, 192)
	gone := fileless("gone.jpg")
	queued := storedImage(t, files, testutil.JPEG(t, 64, 48), 64, 48)
	sized := storedImage(t, files, testutil.JPEG(t, 64, 48), 64, 48)
	tx, _ := store.Begin(ctx)
	if err := db.InsertImagesTx(ctx, tx, []db.Image{old, gone, queued, sized}); err != nil {
		t.Fatal(err)
	}
	tx.Commit(ctx)
	pool.Exec(ctx, `UPDATE images SET status = 'captioned', caption = 'a photo' WHERE id = ANY ($1)`, []uuid.UUID{old.ID, gone.ID, sized.ID})
	ds, err := jobs.Deriver{Files: files}.Make(ctx, sized.ID, sized.StorageKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.SaveDerivatives(ctx, sized.ID, ds); err != nil {
		t.Fatal(err)
	}

	// A real client, as rivertest's turns unique jobs off; without the
	// derive queue, so that the jobs it queues stay queued.
	workers := river.NewWorkers()
	river.AddWorker(workers, &jobs.BackfillDerivativesWorker{DB: store, Log: testutil.Logger(t)})
	river.AddWorker(workers, &jobs.DeriveWorker{DB: store, Deriver: jobs.Deriver{Files: files}})
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Workers: workers, Logger: testutil.Logger(t),
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer client.Stop(context.Background())
	done, cancelDone := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	defer cancelDone()
	run := func() []string {
		t.Helper()
		if _, err := client.Insert(ctx, jobs.BackfillDerivativesArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-done:
			if ev.Kind != river.EventKindJobCompleted {
				t.Fatalf("backfill: %s: %v", ev.Kind, ev.Job.Errors)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the backfill did not finish")
		}
		var ids []string
		pool.QueryRow(ctx, `SELECT coalesce(array_agg(args->>'image_id' ORDER BY args->>'image_id'), '{}') FROM river_job
			WHERE kind = 'derive' AND queue = $1`, jobs.DeriveQueue).Scan(&ids)
		return ids
	}
	want := []string{old.ID.String(), gone.ID.String()}
	slices.Sort(want)
	if got := run(); !slices.Equal(got, want) {
		t.Fatalf("derive jobs for %v, want %v (the captioned images without sizes)", got, want)
	}
	if got := run(); !slices.Equal(got, want) {
		t.Errorf("after a second run: derive jobs for %v, want %v", got, want)
	}
	pool.Exec(ctx, `UPDATE river_job SET state = 'discarded', finalized_at = now() WHERE kind = 'derive'`)
	if got := run(); !slices.Equal(got, want) {
		t.Errorf("after their last attempts failed: derive jobs for %v, want %v", got, want)
	}
}
