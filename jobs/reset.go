package jobs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"captionai/db"
	"captionai/mail"
)

// ResetTokenTTL is how long a password reset link works.
const ResetTokenTTL = time.Hour

// ResetEmailArgs sends a password reset link. The token is made in the
// worker, so it never sits in the job table; only its hash is stored.
type ResetEmailArgs struct {
	UserID uuid.UUID `json:"user_id"`
}

func (ResetEmailArgs) Kind() string { return "reset_email" }

func (ResetEmailArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }

type ResetEmailWorker struct {
	river.WorkerDefaults[ResetEmailArgs]
	DB        *db.Store
	Mail      mail.Sender
	PublicURL string
}

func (w *ResetEmailWorker) Work(ctx context.Context, job *river.Job[ResetEmailArgs]) error {
	u, err := w.DB.UserByID(ctx, job.Args.UserID)
	if errors.Is(err, db.ErrNotFound) {
		return nil // account deleted since
	}
	if err != nil {
		return err
	}
	token := NewResetToken()
	if err := w.DB.CreateResetToken(ctx, u.ID, HashResetToken(token), time.Now().Add(ResetTokenTTL)); err != nil {
		return err
	}
	link := w.PublicURL + "/reset?token=" + token
	body := fmt.Sprintf("Someone asked to reset the password of your CaptionAI account (%s).\n\n"+
		"To choose a new password, open this link within an hour:\n\n%s\n\n"+
		"The link works once. If you did not ask for this, ignore this message; your password stays as it is.\n", u.Email, link)
	return w.Mail.Send(ctx, u.Email, "Reset your CaptionAI password", body)
}

// NewResetToken returns 256 random bits, URL-safe.
func NewResetToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashResetToken is what the database keeps of a token.
func HashResetToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
