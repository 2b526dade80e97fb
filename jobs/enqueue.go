package jobs

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// Queue inserts the app's jobs with a River client.
type Queue struct {
	Client *Client
}

// InsertManyTx inserts jobs in the caller's transaction, so they exist
// exactly when the caller's rows do, and returns their ids in order.
func (q Queue) InsertManyTx(ctx context.Context, tx pgx.Tx, args ...river.JobArgs) ([]int64, error) {
	params := make([]river.InsertManyParams, len(args))
	for i, a := range args {
		params[i] = river.InsertManyParams{Args: a}
	}
	res, err := q.Client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, fmt.Errorf("queueing jobs: %w", err)
	}
	ids := make([]int64, len(res))
	for i, r := range res {
		ids[i] = r.Job.ID
	}
	return ids, nil
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
