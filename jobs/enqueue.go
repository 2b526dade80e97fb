package jobs

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Queue inserts the app's jobs with a River client.
type Queue struct {
	Client *Client
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

// EnqueueResetEmail queues a password reset mail for an account.
func (q Queue) EnqueueResetEmail(ctx context.Context, userID uuid.UUID) error {
	_, err := q.Client.Insert(ctx, ResetEmailArgs{UserID: userID}, nil)
	return err
}
