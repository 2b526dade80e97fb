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

// ExpireGuestsArgs runs periodically to delete guest uploads nobody claimed.
type ExpireGuestsArgs struct{}

func (ExpireGuestsArgs) Kind() string { return "expire_guest_uploads" }

type ExpireGuestsWorker struct {
	river.WorkerDefaults[ExpireGuestsArgs]
	DB        *db.Store
	Queue     Queue
	Retention time.Duration
	Log       *slog.Logger
}

func (w *ExpireGuestsWorker) Work(ctx context.Context, job *river.Job[ExpireGuestsArgs]) error {
	n, err := w.DB.ExpireGuestImages(ctx, time.Now().Add(-w.Retention), w.Queue.DeleteFilesTx)
	if n > 0 {
		w.Log.Info("deleted unclaimed guest uploads", "count", n, "older_than", w.Retention)
	}
	return err
}
