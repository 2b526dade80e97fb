package jobs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"

	"captionai/db"
	"captionai/jobs"
	"captionai/storage"
	"captionai/testutil"
	"captionai/vocab"
)

func TestDeleteFilesWorker(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	ctx := context.Background()
	dir := t.TempDir()
	files, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"images/aa/one.jpg", "images/bb/two.png"}
	for _, k := range keys {
		if _, err := files.Put(ctx, k, strings.NewReader("bytes")); err != nil {
			t.Fatal(err)
		}
	}

	w := rivertest.NewWorker(t, riverpgxv5.New(pool), &river.Config{}, &jobs.DeleteFilesWorker{Files: files})
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// One key is already gone: deleting twice (a retried job) is harmless.
	res, err := w.Work(ctx, t, tx, jobs.DeleteFilesArgs{Keys: append(keys, "images/cc/gone.jpg")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("job ended as %s", res.EventKind)
	}
	for _, k := range keys {
		if _, err := os.Stat(filepath.Join(dir, k)); !os.IsNotExist(err) {
			t.Errorf("%s still exists (%v)", k, err)
		}
	}
}

// Housekeeping deletes unclaimed guest uploads past retention and queues
// their files' deletion in the same transaction, through the client River
// puts in the job's context.
func TestHousekeepingExpiresGuestUploads(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	ctx := context.Background()
	store := db.New(pool)
	guest := uuid.New()
	old := db.Image{ID: uuid.New(), BatchID: uuid.New(), StorageKey: "images/old.jpg", ContentType: "image/jpeg",
		SizeBytes: 1, Width: 1, Height: 1, GuestID: &guest, Visibility: vocab.Unlisted}
	tx, _ := store.Begin(ctx)
	if err := db.InsertImagesTx(ctx, tx, []db.Image{old}); err != nil {
		t.Fatal(err)
	}
	tx.Commit(ctx)
	pool.Exec(ctx, `UPDATE images SET created_at = now() - interval '8 days'`)

	w := rivertest.NewWorker(t, riverpgxv5.New(pool), &river.Config{},
		&jobs.HousekeepingWorker{DB: store, Retention: 7 * 24 * time.Hour, Log: testutil.Logger(t)})
	jtx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer jtx.Rollback(ctx)
	res, err := w.Work(ctx, t, jtx, jobs.HousekeepingArgs{}, nil)
	if err != nil || res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("housekeeping: %v %v", res, err)
	}
	if _, err := store.Image(ctx, old.ID); err == nil {
		t.Error("the expired guest upload is still there")
	}
	var keys string
	pool.QueryRow(ctx, `SELECT args->>'keys' FROM river_job WHERE kind = 'delete_files'`).Scan(&keys)
	if want := `["images/old.jpg", "` + db.DerivativeFolder(old.ID) + `"]`; keys != want {
		t.Errorf("file deletion queued for %q", keys)
	}
}
