package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"captionai/vocab"
)

// Derivative is one stored display size of an image (imagefile.Derive).
type Derivative struct {
	Kind        string `json:"kind"` // imagefile.Card or View
	StorageKey  string `json:"key"`
	ContentType string `json:"type"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	SHA256      string `json:"sha256"` // hex of the file's bytes
	SizeBytes   int64  `json:"size"`
}

// derivativeJSON aggregates an image's rows of image_derivatives d, smallest
// first, as Image.Derivatives scans them (NULL for none).
const derivativeJSON = `json_agg(json_build_object('kind', d.kind, 'key', d.storage_key, 'type', d.content_type,
	'width', d.width, 'height', d.height, 'sha256', d.sha256, 'size', d.size_bytes) ORDER BY d.width * d.height, d.kind)`

// DerivativeKey is where a derivative's file is stored: in its image's
// DerivativeFolder, named by its kind and its content's hash, so that other
// bytes never reuse a key (and so a URL).
func DerivativeKey(id uuid.UUID, kind, sha256 string) string {
	return DerivativeFolder(id) + kind + "-" + sha256[:32] + ".webp"
}

// DerivativeFolder holds the files of an image's derivatives, recorded or
// not: deleting the image deletes the folder, which also takes files that
// a derive job stored but never recorded (it crashed, or the image went
// while it ran).
func DerivativeFolder(id uuid.UUID) string {
	s := id.String()
	return "derivatives/" + s[:2] + "/" + s + "/"
}

// Derivative returns the image's derivative of kind, or ErrNotFound.
func (s *Store) Derivative(ctx context.Context, id uuid.UUID, kind string) (Derivative, error) {
	d := Derivative{Kind: kind}
	err := s.pool.QueryRow(ctx, `SELECT storage_key, content_type, width, height, sha256, size_bytes
		FROM image_derivatives WHERE image_id = $1 AND kind = $2`, id, kind).
		Scan(&d.StorageKey, &d.ContentType, &d.Width, &d.Height, &d.SHA256, &d.SizeBytes)
	if errors.Is(err, pgx.ErrNoRows) {
		return Derivative{}, ErrNotFound
	}
	if err != nil {
		return Derivative{}, fmt.Errorf("loading the %s of %s: %w", kind, id, err)
	}
	return d, nil
}

// SaveDerivativesTx records an image's derivatives, whose files are
// stored, in the caller's transaction. Kinds the image already has keep
// their rows (another run made the same sizes). It returns the keys of ds
// that were not recorded, either for that or because the image is gone, so
// that the caller deletes those files unless another row holds them. Pages
// that show the image hear of the sizes it recorded.
func SaveDerivativesTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, ds []Derivative) (unused []string, err error) {
	recorded := false
	for _, d := range ds {
		tag, err := tx.Exec(ctx, `INSERT INTO image_derivatives
			(image_id, kind, storage_key, content_type, width, height, sha256, size_bytes)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM images WHERE id = $1)
			ON CONFLICT DO NOTHING`,
			id, d.Kind, d.StorageKey, d.ContentType, d.Width, d.Height, d.SHA256, d.SizeBytes)
		if err != nil {
			return nil, fmt.Errorf("recording the %s of %s: %w", d.Kind, id, err)
		}
		recorded = recorded || tag.RowsAffected() > 0
		if tag.RowsAffected() == 0 {
			var held bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM image_derivatives WHERE storage_key = $1)`,
				d.StorageKey).Scan(&held); err != nil {
				return nil, fmt.Errorf("recording the %s of %s: %w", d.Kind, id, err)
			}
			if !held {
				unused = append(unused, d.StorageKey)
			}
		}
	}
	if recorded {
		if err := notify(ctx, tx, id); err != nil {
			return nil, fmt.Errorf("recording the sizes of %s: %w", id, err)
		}
	}
	return unused, nil
}

// SaveDerivatives is SaveDerivativesTx in a transaction of its own.
func (s *Store) SaveDerivatives(ctx context.Context, id uuid.UUID, ds []Derivative) ([]string, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	unused, err := SaveDerivativesTx(ctx, tx, id, ds)
	if err != nil {
		return nil, err
	}
	return unused, tx.Commit(ctx)
}

// HasDerivatives reports whether the image has every one of kinds.
func (s *Store) HasDerivatives(ctx context.Context, id uuid.UUID, kinds []string) (bool, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM image_derivatives WHERE image_id = $1 AND kind = ANY ($2)`,
		id, kinds).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("looking up the derivatives of %s: %w", id, err)
	}
	return n == len(kinds), nil
}

// MissingDerivative is an image whose derivatives the backfill makes.
type MissingDerivative struct {
	ID         uuid.UUID
	StorageKey string
}

// ImagesMissingDerivatives returns up to limit captioned images that lack
// one of kinds, by id, after the image after (uuid.Nil: from the start).
func (s *Store) ImagesMissingDerivatives(ctx context.Context, kinds []string, after uuid.UUID, limit int) ([]MissingDerivative, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, storage_key FROM images i
		WHERE status = $4 AND id > $3
		AND (SELECT count(*) FROM image_derivatives d WHERE d.image_id = i.id AND d.kind = ANY ($1)) < cardinality($1::text[])
		ORDER BY id LIMIT $2`, kinds, limit, after, vocab.Captioned)
	if err != nil {
		return nil, fmt.Errorf("listing images without derivatives: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[MissingDerivative])
}
