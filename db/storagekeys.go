package db

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// StorageKeys returns up to limit storage keys of images and their
// derivatives that sort after after, in order, so that `captionai storage
// copy` can page through every stored file and resume at any key.
func (s *Store) StorageKeys(ctx context.Context, after string, limit int) ([]string, error) {
	// COLLATE "C": plain byte order, whatever the database's locale.
	rows, err := s.pool.Query(ctx, `SELECT k FROM (SELECT storage_key AS k FROM images
			UNION ALL SELECT storage_key FROM image_derivatives) keys
		WHERE k COLLATE "C" > $1 ORDER BY k COLLATE "C" LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
