package jobs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"

	"captionai/jobs"
	"captionai/storage"
	"captionai/testutil"
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
