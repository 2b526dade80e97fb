package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"captionai/db"
	"captionai/storage"
)

// DeleteFilesArgs removes stored files whose rows are gone. It is inserted
// in the transaction that deletes the rows, so files go exactly when rows do.
type DeleteFilesArgs struct {
	Keys []string `json:"keys"`
}

func (DeleteFilesArgs) Kind() string { return "delete_files" }

type DeleteFilesWorker struct {
	river.WorkerDefaults[DeleteFilesArgs]
	Files storage.Store
}

func (w *DeleteFilesWorker) Work(ctx context.Context, job *river.Job[DeleteFilesArgs]) error {
	for _, key := range job.Args.Keys {
		if err := w.Files.Delete(ctx, key); err != nil {
			return err // retried; deleting twice is harmless
		}
	}
	return nil
}

// HousekeepingArgs runs hourly: it deletes guest uploads nobody claimed,
// expired sessions and old sign-in failures. As a River periodic job it
// runs once per cluster, however many processes there are.
type HousekeepingArgs struct{}

func (HousekeepingArgs) Kind() string { return "housekeeping" }

type HousekeepingWorker struct {
	river.WorkerDefaults[HousekeepingArgs]
	DB        *db.Store
	Queue     Queue
	Retention time.Duration // of unclaimed guest uploads
	Log       *slog.Logger
}

func (w *HousekeepingWorker) Work(ctx context.Context, job *river.Job[HousekeepingArgs]) error {
	n, err := w.DB.ExpireGuestImages(ctx, time.Now().Add(-w.Retention), w.Queue.DeleteFilesTx)
	if err != nil {
		return err
	}
	if n > 0 {
		w.Log.Info("deleted unclaimed guest uploads", "count", n, "older_than", w.Retention)
	}
	return w.DB.DeleteExpired(ctx, time.Now().Add(-24*time.Hour))
}
