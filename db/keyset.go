package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"captionai/vocab"
)

// Cursor is a place in a newest-first list of images: the list goes on
// with the images after it. The id breaks ties of created_at, which the
// images of one upload share (it is their transaction's time); a Nil id
// means "created before CreatedAt". A zero Cursor is the start.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// OwnedByAfter returns up to limit images of the owner after the cursor,
// newest first: no image is skipped or repeated across pages.
func (s *Store) OwnedByAfter(ctx context.Context, o Owner, after Cursor, limit int) ([]Image, error) {
	return s.listAfter(ctx, `(user_id = $4 OR guest_id = $5)`, after, limit, nullUUID(o.UserID), nullUUID(o.GuestID))
}

// PublicAfter returns the public gallery after the cursor, newest first:
// captioned (so the NSFW check has run), unmoderated public images, only
// those whose caption matches query when it is given (web-search syntax
// with English stemming: "dog beach", "\"red shirt\"", "dog -snow").
func (s *Store) PublicAfter(ctx context.Context, query string, after Cursor, limit int) ([]Image, error) {
	where := `visibility = $4 AND status = $5 AND moderation = $6`
	args := []any{vocab.Public, vocab.Captioned, vocab.ModOK}
	if query != "" {
		where += ` AND caption_search @@ websearch_to_tsquery('english', $7)`
		args = append(args, query)
	}
	return s.listAfter(ctx, where, after, limit, args...)
}

// listAfter pages through the images matching where (with $4, $5, ... as
// extra arguments) after the cursor, newest first.
func (s *Store) listAfter(ctx context.Context, where string, after Cursor, limit int, args ...any) ([]Image, error) {
	if after.CreatedAt.IsZero() {
		after = Cursor{CreatedAt: time.Now().Add(time.Hour)}
	}
	rows, err := s.pool.Query(ctx, `SELECT `+imageColumns+` FROM images
		WHERE `+where+` AND (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT $3`,
		append([]any{after.CreatedAt, after.ID, limit}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	imgs, err := collectImages(rows)
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	return imgs, nil
}

// PublicNeighbours are the images before and after at in the public
// gallery's order (newest first, as PublicAfter lists it): newer is the
// previous photo, older the next; uuid.Nil where there is none.
func (s *Store) PublicNeighbours(ctx context.Context, at Cursor) (newer, older uuid.UUID, err error) {
	const public = `visibility = $3 AND status = $4 AND moderation = $5`
	args := []any{at.CreatedAt, at.ID, vocab.Public, vocab.Captioned, vocab.ModOK}
	var n, o *uuid.UUID
	err = s.pool.QueryRow(ctx, `SELECT
		(SELECT id FROM images WHERE `+public+` AND (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT 1),
		(SELECT id FROM images WHERE `+public+` AND (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT 1)`,
		args...).Scan(&n, &o)
	if err != nil {
		return uuid.Nil, uuid.Nil, fmt.Errorf("finding neighbouring photos: %w", err)
	}
	if n != nil {
		newer = *n
	}
	if o != nil {
		older = *o
	}
	return newer, older, nil
}
