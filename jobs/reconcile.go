package jobs

import (
	"context"
	"log/slog"

	"github.com/riverqueue/river"

	"captionai/db"
)

// ReconcileArgs runs periodically to fail images whose job ended without a
// caption (for example discarded after its last attempt was rescued from a
// crashed worker), so no image shows "captioning" forever.
type ReconcileArgs struct{}

func (ReconcileArgs) Kind() string { return "reconcile_images" }

type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	DB  *db.Store
	Log *slog.Logger
}

func (w *ReconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	n, err := w.DB.FailOrphaned(ctx)
	if n > 0 {
		w.Log.Warn("marked orphaned images failed", "count", n)
	}
	return err
}
