package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"captionai/db"
	"captionai/storage"
)

// DeleteFilesArgs removes stored files whose rows are gone. It is inserted
// in the transaction that deletes the rows, so files go exactly when rows do.
type DeleteFilesArgs struct {
	// Keys are files' keys, or folders (ending in "/") to delete with all
	// the files in them.
	Keys []string `json:"keys"`
}

func (DeleteFilesArgs) Kind() string { return "delete_files" }

type DeleteFilesWorker struct {
	river.WorkerDefaults[DeleteFilesArgs]
	Files storage.Store
}

func (w *DeleteFilesWorker) Work(ctx context.Context, job *river.Job[DeleteFilesArgs]) error {
	for _, key := range job.Args.Keys {
		del := w.Files.Delete
		if strings.HasSuffix(key, "/") {
			del = w.Files.DeleteFolder
		}
		if err := del(ctx, key); err != nil {
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
	Retention time.Duration // of unclaimed guest uploads
	Log       *slog.Logger
}

func (w *HousekeepingWorker) Work(ctx context.Context, job *river.Job[HousekeepingArgs]) error {
	tx, err := w.DB.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	keys, err := db.ExpireGuestImagesTx(ctx, tx, time.Now().Add(-w.Retention))
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		if _, err := river.ClientFromContext[pgx.Tx](ctx).InsertTx(ctx, tx, DeleteFilesArgs{Keys: keys}, nil); err != nil {
			return fmt.Errorf("queueing file deletion: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if len(keys) > 0 {
		w.Log.Info("deleted unclaimed guest uploads", "count", len(keys), "older_than", w.Retention)
	}
	return w.DB.DeleteExpired(ctx, time.Now().Add(-24*time.Hour))
}
