package db

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"captionai/vocab"
)

// Image is one uploaded picture and what became of it.
type Image struct {
	ID           uuid.UUID
	BatchID      uuid.UUID
	Status       string
	StorageKey   string
	ContentType  string
	OriginalName string
	SizeBytes    int64
	Width        int
	Height       int
	JobID        *int64
	Caption      string
	Model        string
	Error        string
	EncodeMS     float64
	DecodeMS     float64
	TotalMS      float64
	CreatedAt    time.Time
	CaptionedAt  *time.Time
	UserID       *uuid.UUID // owning account, or
	GuestID      *uuid.UUID // owning guest session
	Visibility   string     // vocab.Public, Unlisted or Private
	UploaderIP   *netip.Addr
	Moderation   string    // vocab.ModOK, Held or Hidden
	ModReason    string    // why it is held or hidden
	NSFWScores   []float32 // drawing, hentai, neutral, porn, sexy; nil before classification
	CaptionSrc   string    // vocab.ByModel, ByOwner or ByStaff: who wrote the current caption
	// Confidence and Certainty are the model's measure of the current
	// caption (its version's): nil and "" for people's edits and for
	// models without calibration.
	Confidence *float64
	Certainty  string // vocab.Sure, Probable, Unsure or ""
	// Derivatives are its display sizes, smallest first; none until the
	// worker has made them.
	Derivatives []Derivative
	// UploaderName is the uploading account's display name; "" for a guest
	// or an account without one.
	UploaderName string
}

// Finished reports whether the image will change no more.
func (i Image) Finished() bool { return vocab.Finished(i.Status) }

const imageColumns = `id, batch_id, status, storage_key, content_type, original_name,
	size_bytes, width, height, job_id, coalesce(caption, ''), coalesce(model, ''), coalesce(error, ''),
	coalesce(encode_ms, 0), coalesce(decode_ms, 0), coalesce(total_ms, 0), created_at, captioned_at,
	user_id, guest_id, visibility, uploader_ip, moderation, coalesce(moderation_reason, ''), nsfw_scores, caption_source,
	(SELECT ` + versionConfidence + ` FROM caption_versions cv WHERE cv.id = images.caption_version),
	coalesce((SELECT cv.certainty FROM caption_versions cv WHERE cv.id = images.caption_version), ''),
	(SELECT ` + derivativeJSON + ` FROM image_derivatives d WHERE d.image_id = images.id),
	coalesce((SELECT u.display_name FROM users u WHERE u.id = images.user_id), '')`

// versionConfidence reads a caption version's confidence (real) as the
// float8 of its shortest decimal, so 0.42 stays 0.42 in JSON rather than
// 0.41999998688697815.
const versionConfidence = `cv.confidence::numeric::float8`

// imageDest is where a row of imageColumns scans to.
func imageDest(i *Image) []any {
	return []any{&i.ID, &i.BatchID, &i.Status, &i.StorageKey, &i.ContentType, &i.OriginalName,
		&i.SizeBytes, &i.Width, &i.Height, &i.JobID, &i.Caption, &i.Model, &i.Error,
		&i.EncodeMS, &i.DecodeMS, &i.TotalMS, &i.CreatedAt, &i.CaptionedAt,
		&i.UserID, &i.GuestID, &i.Visibility, &i.UploaderIP, &i.Moderation, &i.ModReason, &i.NSFWScores, &i.CaptionSrc,
		&i.Confidence, &i.Certainty, &i.Derivatives, &i.UploaderName}
}

func scanImage(row pgx.Row) (Image, error) {
	var i Image
	err := row.Scan(imageDest(&i)...)
	return i, err
}

func collectImages(rows pgx.Rows) ([]Image, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Image, error) { return scanImage(r) })
}

// insertImageTx inserts a queued image inside tx and sets its creation
// time; the caller inserts its job in the same transaction.
func insertImageTx(ctx context.Context, tx pgx.Tx, img *Image) error {
	err := tx.QueryRow(ctx, `INSERT INTO images
		(id, batch_id, status, storage_key, content_type, original_name, size_bytes, width, height, job_id,
		 user_id, guest_id, visibility, uploader_ip)
		VALUES ($1, $2, $14, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		RETURNING status, created_at`,
		img.ID, img.BatchID, img.StorageKey, img.ContentType, img.OriginalName,
		img.SizeBytes, img.Width, img.Height, img.JobID,
		img.UserID, img.GuestID, img.Visibility, img.UploaderIP, vocab.Queued).Scan(&img.Status, &img.CreatedAt)
	if err != nil {
		return fmt.Errorf("inserting image %s: %w", img.ID, err)
	}
	return nil
}

// Image returns one image.
func (s *Store) Image(ctx context.Context, id uuid.UUID) (Image, error) {
	img, err := scanImage(s.pool.QueryRow(ctx, `SELECT `+imageColumns+` FROM images WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Image{}, ErrNotFound
	}
	if err != nil {
		return Image{}, fmt.Errorf("loading image %s: %w", id, err)
	}
	return img, nil
}

// Batch returns the images of one upload, in upload order.
func (s *Store) Batch(ctx context.Context, batchID uuid.UUID) ([]Image, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+imageColumns+` FROM images WHERE batch_id = $1 ORDER BY created_at, original_name`, batchID)
	if err != nil {
		return nil, fmt.Errorf("loading batch %s: %w", batchID, err)
	}
	imgs, err := collectImages(rows)
	if err != nil {
		return nil, fmt.Errorf("loading batch %s: %w", batchID, err)
	}
	return imgs, nil
}

func notify(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, id uuid.UUID) error {
	_, err := q.Exec(ctx, `SELECT pg_notify($1, $2)`, EventsChannel, id.String())
	return err
}

// StartCaptioning marks the image as being captioned and returns it. It
// returns ErrNotFound when there is nothing left to caption: the image was
// deleted, or an earlier run already captioned it.
func (s *Store) StartCaptioning(ctx context.Context, id uuid.UUID) (Image, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Image{}, fmt.Errorf("marking %s captioning: %w", id, err)
	}
	defer tx.Rollback(ctx)
	img, err := scanImage(tx.QueryRow(ctx, `UPDATE images SET status = $2, error = NULL
		WHERE id = $1 AND status <> $3 RETURNING `+imageColumns, id, vocab.Captioning, vocab.Captioned))
	if errors.Is(err, pgx.ErrNoRows) {
		return Image{}, ErrNotFound
	}
	if err != nil {
		return Image{}, fmt.Errorf("marking %s captioning: %w", id, err)
	}
	if err := notify(ctx, tx, id); err != nil {
		return Image{}, fmt.Errorf("marking %s captioning: %w", id, err)
	}
	return img, tx.Commit(ctx)
}

// Caption is what a worker learned about an image.
type Caption struct {
	Text     string
	Model    string
	EncodeMS float64
	DecodeMS float64
	TotalMS  float64
	// Confidence is the model's calibrated chance in [0, 1] that Text
	// names the photo's subject right, and Certainty that chance in words
	// (vocab.Sure, Probable or Unsure); nil and "" when the model has no
	// calibration (remote engines, the test model).
	Confidence *float64
	Certainty  string
}

// MarkCaptionedTx stores the model's caption, with its confidence, as the
// image's newest version and notifies listeners; tx also completes the
// River job, so both happen or neither.
func MarkCaptionedTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, c Caption) error {
	_, err := tx.Exec(ctx, `WITH v AS (INSERT INTO caption_versions (image_id, text, source, model, confidence, certainty)
			VALUES ($1, $2, $8, $3, $9, nullif($10, '')) RETURNING id)
		UPDATE images SET status = $7, caption = $2, model = $3, caption_source = $8, caption_version = (SELECT id FROM v),
		encode_ms = $4, decode_ms = $5, total_ms = $6, error = NULL, captioned_at = now()
		WHERE id = $1`, id, c.Text, c.Model, c.EncodeMS, c.DecodeMS, c.TotalMS, vocab.Captioned, vocab.ByModel,
		c.Confidence, c.Certainty)
	if err != nil {
		return fmt.Errorf("storing caption of %s: %w", id, err)
	}
	if err := notify(ctx, tx, id); err != nil {
		return fmt.Errorf("storing caption of %s: %w", id, err)
	}
	return nil
}

// MarkFailed records why an image cannot be captioned.
func (s *Store) MarkFailed(ctx context.Context, id uuid.UUID, reason string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("marking %s failed: %w", id, err)
	}
	defer tx.Rollback(ctx)
	// An image that had a caption (a regeneration failed) keeps it.
	if _, err := tx.Exec(ctx, `UPDATE images SET status = CASE WHEN caption IS NULL THEN $3 ELSE $4 END, error = $2
		WHERE id = $1 AND status <> $4`, id, reason, vocab.Failed, vocab.Captioned); err != nil {
		return fmt.Errorf("marking %s failed: %w", id, err)
	}
	if err := notify(ctx, tx, id); err != nil {
		return fmt.Errorf("marking %s failed: %w", id, err)
	}
	return tx.Commit(ctx)
}

// FailOrphaned marks failed the unfinished images whose River job has ended
// without captioning them (discarded after its last attempt, cancelled, or
// deleted), so that no image waits forever. It returns how many it changed.
func (s *Store) FailOrphaned(ctx context.Context) (int, error) {
	rows, err := s.pool.Query(ctx, `UPDATE images i
		SET status = CASE WHEN i.caption IS NULL THEN $1 ELSE $4 END,
		    error = coalesce(i.error, 'Captioning gave up after repeated failures.')
		WHERE i.status IN ($2, $3)
		  AND i.created_at < now() - interval '10 seconds'
		  AND NOT EXISTS (SELECT 1 FROM river_job j
		                  WHERE j.id = i.job_id AND j.state NOT IN ('discarded', 'cancelled', 'completed'))
		RETURNING i.id`, vocab.Failed, vocab.Queued, vocab.Captioning, vocab.Captioned)
	if err != nil {
		return 0, fmt.Errorf("failing orphaned images: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return 0, fmt.Errorf("failing orphaned images: %w", err)
	}
	for _, id := range ids {
		if err := notify(ctx, s.pool, id); err != nil {
			return len(ids), fmt.Errorf("failing orphaned images: %w", err)
		}
	}
	return len(ids), nil
}

// InsertImagesTx inserts queued images in the caller's transaction, which
// also inserts their caption jobs (each image's JobID) and then commits:
// either every image is queued with its job, or nothing is. It fills in
// each image's status and creation time.
func InsertImagesTx(ctx context.Context, tx pgx.Tx, imgs []Image) error {
	for i := range imgs {
		if err := insertImageTx(ctx, tx, &imgs[i]); err != nil {
			return err
		}
	}
	return nil
}

// Owner names who an image belongs to: an account or a guest session.
type Owner struct {
	UserID  uuid.UUID
	GuestID uuid.UUID
}

func nullUUID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// SetVisibility changes who may see an image.
func (s *Store) SetVisibility(ctx context.Context, id uuid.UUID, visibility string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE images SET visibility = $2 WHERE id = $1`, id, visibility); err != nil {
		return fmt.Errorf("changing visibility of %s: %w", id, err)
	}
	return nil
}

// DeleteImageTx deletes an image row in the caller's transaction and
// returns its storage key, for the caller to queue the file's deletion in
// the same transaction.
func DeleteImageTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) ([]string, error) {
	return deleteImagesTx(ctx, tx, `id = $1`, id)
}

// ExpireGuestImagesTx deletes guest uploads older than cutoff that nobody
// claimed, in the caller's transaction, and returns their storage keys.
func ExpireGuestImagesTx(ctx context.Context, tx pgx.Tx, cutoff time.Time) ([]string, error) {
	return deleteImagesTx(ctx, tx, `guest_id IS NOT NULL AND created_at < $1`, cutoff)
}

// deleteImagesTx deletes the matching rows (their derivatives' rows go
// with them) and returns the storage keys of their files and their
// DerivativeFolders. The folders, not the derivatives' rows: a derive job
// that stores its files and records them while the DELETE runs is not seen
// by its snapshot.
func deleteImagesTx(ctx context.Context, tx pgx.Tx, where string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, `DELETE FROM images WHERE `+where+` RETURNING id, storage_key`, args...)
	if err != nil {
		return nil, fmt.Errorf("deleting images: %w", err)
	}
	var keys []string
	var id uuid.UUID
	var key string
	_, err = pgx.ForEachRow(rows, []any{&id, &key}, func() error {
		keys = append(keys, key, DerivativeFolder(id))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("deleting images: %w", err)
	}
	return keys, nil
}

// RequeueImageTx puts a failed image back in the queue with its new caption
// job, in the caller's transaction, which also inserts that job. It returns
// ErrNotFound when the image is gone or no longer failed.
func RequeueImageTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, jobID int64, from ...string) error {
	tag, err := tx.Exec(ctx, `UPDATE images SET status = $2, error = NULL, job_id = $3
		WHERE id = $1 AND status = ANY ($4)`, id, vocab.Queued, jobID, from)
	if err != nil {
		return fmt.Errorf("requeueing %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	if err := notify(ctx, tx, id); err != nil {
		return fmt.Errorf("requeueing %s: %w", id, err)
	}
	return nil
}
