package jobs

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// Queue inserts the app's jobs with a River client.
type Queue struct {
	Client *Client
}

// InsertManyTx inserts jobs in the caller's transaction; they exist exactly
// when the caller's rows do.
func (q Queue) InsertManyTx(ctx context.Context, tx pgx.Tx, args ...river.JobArgs) error {
	params := make([]river.InsertManyParams, len(args))
	for i, a := range args {
		params[i] = river.InsertManyParams{Args: a}
	}
	if _, err := q.Client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("queueing jobs: %w", err)
	}
	return nil
}

// Insert queues jobs on their own.
func (q Queue) Insert(ctx context.Context, args ...river.JobArgs) error {
	params := make([]river.InsertManyParams, len(args))
	for i, a := range args {
		params[i] = river.InsertManyParams{Args: a}
	}
	if _, err := q.Client.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("queueing jobs: %w", err)
	}
	return nil
}

// EnqueueCaption inserts the caption job for an image inside the upload's
// transaction (InsertTx), so the job exists exactly when the row does.
func (q Queue) EnqueueCaption(ctx context.Context, tx pgx.Tx, imageID uuid.UUID) (int64, error) {
	res, err := q.Client.InsertTx(ctx, tx, CaptionArgs{ImageID: imageID}, nil)
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}

// DeleteFilesTx queues the deletion of stored files in the transaction that
// deletes their rows; it is a db.FilesFunc.
func (q Queue) DeleteFilesTx(ctx context.Context, tx pgx.Tx, keys []string) error {
	_, err := q.Client.InsertTx(ctx, tx, DeleteFilesArgs{Keys: keys}, nil)
	return err
}
