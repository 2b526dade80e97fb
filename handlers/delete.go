package handlers

import (
	"context"

	"github.com/jackc/pgx/v5"

	"captionai/jobs"
)

// deleteTx runs del in a transaction that also queues the deletion of the
// files whose keys del returns, so rows and files go together or not at all.
func (h *Handler) deleteTx(ctx context.Context, del func(pgx.Tx) ([]string, error)) error {
	tx, err := h.DB.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	keys, err := del(tx)
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		if _, err := h.Jobs.InsertManyTx(ctx, tx, jobs.DeleteFilesArgs{Keys: keys}); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}
