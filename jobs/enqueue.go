package jobs

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Enqueuer inserts caption jobs with a River client.
type Enqueuer struct {
	Client *Client
}

// EnqueueCaption inserts the caption job for an image inside the upload's
// transaction (InsertTx), so the job exists exactly when the row does.
func (e Enqueuer) EnqueueCaption(ctx context.Context, tx pgx.Tx, imageID uuid.UUID) (int64, error) {
	res, err := e.Client.InsertTx(ctx, tx, CaptionArgs{ImageID: imageID}, nil)
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}
