package db

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"captionai/vocab"
)

// SetNSFWTx stores an image's NSFW scores (drawing, hentai, neutral, porn,
// sexy) and, when hold is set, holds it for review with reason. An image
// staff have hidden meanwhile stays hidden. It belongs in the transaction
// that stores the caption (MarkCaptionedTx, which notifies), so no one sees
// the captioned image before it is held.
func SetNSFWTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, scores []float32, hold bool, reason string) error {
	_, err := tx.Exec(ctx, `UPDATE images SET nsfw_scores = $2,
		moderation = CASE WHEN $3 AND moderation = $5 THEN $6 ELSE moderation END,
		moderation_reason = CASE WHEN $3 AND moderation = $5 THEN $4 ELSE moderation_reason END
		WHERE id = $1`, id, scores, hold, reason, vocab.ModOK, vocab.Held)
	if err != nil {
		return fmt.Errorf("storing the NSFW scores of %s: %w", id, err)
	}
	return nil
}
