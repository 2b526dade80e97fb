package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"captionai/db"
	"captionai/mail"
)

// Lifetimes of mailed links.
const (
	ResetTokenTTL  = time.Hour
	VerifyTokenTTL = 24 * time.Hour
)

// Mail jobs make their token in the worker, so it never sits in the job
// table; only its hash is stored.

// Mailer is what the mail workers share.
type Mailer struct {
	DB        *db.Store
	Mail      mail.Sender
	PublicURL string // base of links in mail
}

// account loads the account a mail is for; found is false when it is gone.
func (m Mailer) account(ctx context.Context, id uuid.UUID) (u db.User, found bool, err error) {
	u, err = m.DB.UserByID(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return u, false, nil
	}
	return u, err == nil, err
}

// ResetEmailArgs sends a password reset link to the account of Email, if
// there is one: the web request does the same work for any address.
type ResetEmailArgs struct {
	Email string `json:"email"`
}

func (ResetEmailArgs) Kind() string { return "reset_email" }

func (ResetEmailArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }

type ResetEmailWorker struct {
	river.WorkerDefaults[ResetEmailArgs]
	Mailer
}

func (w *ResetEmailWorker) Work(ctx context.Context, job *river.Job[ResetEmailArgs]) error {
	u, err := w.DB.UserByEmail(ctx, job.Args.Email)
	if errors.Is(err, db.ErrNotFound) {
		return nil // no such account: nothing to send
	}
	if err != nil {
		return err
	}
	token, err := w.DB.CreateToken(ctx, u.ID, db.TokenReset, ResetTokenTTL)
	if err != nil {
		return err
	}
	body := fmt.Sprintf("Someone asked to reset the password of your CaptionAI account (%s).\n\n"+
		"To choose a new password, open this link within an hour:\n\n%s/reset?token=%s\n\n"+
		"The link works once. If you did not ask for this, ignore this message; your password stays as it is.\n",
		u.Email, w.PublicURL, token)
	return w.Mail.Send(ctx, u.Email, "Reset your CaptionAI password", body)
}

// VerifyEmailArgs sends a new account the link that confirms its address.
type VerifyEmailArgs struct {
	UserID uuid.UUID `json:"user_id"`
}

func (VerifyEmailArgs) Kind() string { return "verify_email" }

func (VerifyEmailArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }

type VerifyEmailWorker struct {
	river.WorkerDefaults[VerifyEmailArgs]
	Mailer
}

func (w *VerifyEmailWorker) Work(ctx context.Context, job *river.Job[VerifyEmailArgs]) error {
	u, found, err := w.account(ctx, job.Args.UserID)
	if err != nil || !found || u.Verified() {
		return err // nil when deleted, or confirmed since
	}
	token, err := w.DB.CreateToken(ctx, u.ID, db.TokenVerify, VerifyTokenTTL)
	if err != nil {
		return err
	}
	body := fmt.Sprintf("Welcome to CaptionAI. To confirm that %s is your address, open this link within 24 hours:\n\n"+
		"%s/verify?token=%s\n\n"+
		"The link works once. If you did not sign up, ignore this message.\n", u.Email, w.PublicURL, token)
	return w.Mail.Send(ctx, u.Email, "Confirm your CaptionAI address", body)
}

// AccountExistsArgs tells the owner of an address that someone tried to
// sign up with it: the sign-up page itself says the same thing either way,
// so it does not tell strangers which addresses have accounts.
type AccountExistsArgs struct {
	UserID uuid.UUID `json:"user_id"`
}

func (AccountExistsArgs) Kind() string { return "account_exists_email" }

func (AccountExistsArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }

type AccountExistsWorker struct {
	river.WorkerDefaults[AccountExistsArgs]
	Mailer
}

func (w *AccountExistsWorker) Work(ctx context.Context, job *river.Job[AccountExistsArgs]) error {
	u, found, err := w.account(ctx, job.Args.UserID)
	if err != nil || !found {
		return err
	}
	body := fmt.Sprintf("Someone, perhaps you, tried to create a CaptionAI account with %s, which already has one.\n\n"+
		"To sign in: %s/login\nForgot the password? %s/forgot\n\n"+
		"If it was not you, ignore this message; nothing was changed.\n", u.Email, w.PublicURL, w.PublicURL)
	return w.Mail.Send(ctx, u.Email, "Your CaptionAI account", body)
}
