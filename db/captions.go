package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"captionai/vocab"
)

// CaptionVersion is one caption an image has had.
type CaptionVersion struct {
	ID          int64
	Text        string
	Source      string // vocab.ByModel, ByOwner or ByStaff
	Model       string // the model's name, for ByModel
	AuthorEmail string
	CreatedAt   time.Time
	Good, Bad   int
	Current     bool
	// Confidence and Certainty are the model's measure of its caption:
	// nil and "" for people's edits and uncalibrated models.
	Confidence *float64
	Certainty  string
}

// CaptionHistory returns an image's caption versions, newest first.
func (s *Store) CaptionHistory(ctx context.Context, imageID uuid.UUID) ([]CaptionVersion, error) {
	rows, err := s.pool.Query(ctx, `SELECT cv.id, cv.text, cv.source, coalesce(cv.model, ''),
			coalesce((SELECT email FROM users u WHERE u.id = cv.author), ''), cv.created_at,
			(SELECT count(*) FROM caption_ratings r WHERE r.version_id = cv.id AND r.rating = 'good'),
			(SELECT count(*) FROM caption_ratings r WHERE r.version_id = cv.id AND r.rating = 'bad'),
			cv.id = (SELECT caption_version FROM images WHERE id = $1),
			`+versionConfidence+`, coalesce(cv.certainty, '')
		FROM caption_versions cv WHERE cv.image_id = $1 ORDER BY cv.created_at DESC, cv.id DESC`, imageID)
	if err != nil {
		return nil, fmt.Errorf("loading caption history: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CaptionVersion, error) {
		var v CaptionVersion
		err := r.Scan(&v.ID, &v.Text, &v.Source, &v.Model, &v.AuthorEmail, &v.CreatedAt, &v.Good, &v.Bad, &v.Current, &v.Confidence, &v.Certainty)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("loading caption history: %w", err)
	}
	return out, nil
}

// Ratings are the votes on an image's current caption, and the viewer's.
type Ratings struct {
	Good, Bad int
	Mine      string // vocab.Good, Bad, or "" when the viewer has not voted
}

// CaptionRatings counts the votes on an image's current caption; viewer
// (Nil for none) says whose vote is Mine.
func (s *Store) CaptionRatings(ctx context.Context, imageID, viewer uuid.UUID) (Ratings, error) {
	var r Ratings
	err := s.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE rating = 'good'), count(*) FILTER (WHERE rating = 'bad'),
			coalesce(max(rating) FILTER (WHERE user_id = $2), '')
		FROM caption_ratings WHERE version_id = (SELECT caption_version FROM images WHERE id = $1)`,
		imageID, viewer).Scan(&r.Good, &r.Bad, &r.Mine)
	if err != nil {
		return r, fmt.Errorf("counting ratings: %w", err)
	}
	return r, nil
}

// Rate records (or changes) an account's vote on an image's current
// caption. It returns ErrNotFound when the image has no caption yet.
func (s *Store) Rate(ctx context.Context, imageID, userID uuid.UUID, rating string) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO caption_ratings (version_id, user_id, rating)
		SELECT caption_version, $2, $3 FROM images WHERE id = $1 AND caption_version IS NOT NULL
		ON CONFLICT (version_id, user_id) DO UPDATE SET rating = excluded.rating, rated_at = now()`, imageID, userID, rating)
	if err != nil {
		return fmt.Errorf("rating the caption of %s: %w", imageID, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// RestoreCaptionTx makes an earlier version the image's caption again; a
// model's version brings its confidence and certainty back with it (the
// image reads them through caption_version).
func RestoreCaptionTx(ctx context.Context, tx pgx.Tx, imageID uuid.UUID, versionID int64) error {
	tag, err := tx.Exec(ctx, `UPDATE images i SET caption = v.text, caption_source = v.source, caption_version = v.id
		FROM caption_versions v WHERE i.id = $1 AND v.id = $2 AND v.image_id = i.id`, imageID, versionID)
	if err != nil {
		return fmt.Errorf("restoring a caption of %s: %w", imageID, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return notify(ctx, tx, imageID)
}

// EditedCaption is a caption a person wrote for a public image.
type EditedCaption struct {
	ImageID     uuid.UUID
	StorageKey  string
	ContentType string
	Text        string
}

// EditedPublicCaptions returns the current captions that people wrote
// (owners or staff) of the public, unmoderated images, oldest first: the
// corrections worth training on.
func (s *Store) EditedPublicCaptions(ctx context.Context) ([]EditedCaption, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, storage_key, content_type, caption FROM images
		WHERE visibility = $1 AND moderation = $2 AND caption IS NOT NULL AND caption_source <> $3
		ORDER BY created_at, id`, vocab.Public, vocab.ModOK, vocab.ByModel)
	if err != nil {
		return nil, fmt.Errorf("listing edited captions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (EditedCaption, error) {
		var e EditedCaption
		return e, r.Scan(&e.ImageID, &e.StorageKey, &e.ContentType, &e.Text)
	})
	if err != nil {
		return nil, fmt.Errorf("listing edited captions: %w", err)
	}
	return out, nil
}
