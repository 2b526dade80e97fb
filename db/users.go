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
)

// ErrEmailTaken is returned when an account with the address exists.
var ErrEmailTaken = errors.New("an account with this email address already exists")

// ErrTokenInvalid is returned for a reset token that is unknown, used or
// expired.
var ErrTokenInvalid = errors.New("this reset link is invalid, used or expired")

// User is an account.
type User struct {
	ID           uuid.UUID
	Email        string
	PasswordHash string
	IsAdmin      bool
	CreatedAt    time.Time
}

const userColumns = `id, email, password_hash, is_admin, created_at`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.IsAdmin, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	return u, err
}

// CreateUser adds an account and, in the same transaction, moves the
// uploads of guest (if not Nil) to it.
func (s *Store) CreateUser(ctx context.Context, email, passwordHash string, isAdmin bool, guest uuid.UUID) (User, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return User{}, fmt.Errorf("creating account: %w", err)
	}
	defer tx.Rollback(ctx)
	u, err := scanUser(tx.QueryRow(ctx, `INSERT INTO users (id, email, password_hash, is_admin)
		VALUES ($1, $2, $3, $4) RETURNING `+userColumns, uuid.New(), email, passwordHash, isAdmin))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return User{}, ErrEmailTaken
	}
	if err != nil {
		return User{}, fmt.Errorf("creating account: %w", err)
	}
	if err := claimTx(ctx, tx, u.ID, guest); err != nil {
		return User{}, err
	}
	return u, tx.Commit(ctx)
}

// ClaimGuestImages moves a guest's uploads to an account.
func (s *Store) ClaimGuestImages(ctx context.Context, userID, guest uuid.UUID) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("claiming guest uploads: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := claimTx(ctx, tx, userID, guest); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func claimTx(ctx context.Context, tx pgx.Tx, userID, guest uuid.UUID) error {
	if guest == uuid.Nil {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE images SET user_id = $1, guest_id = NULL, uploader_ip = NULL
		WHERE guest_id = $2`, userID, guest); err != nil {
		return fmt.Errorf("claiming guest uploads: %w", err)
	}
	return nil
}

// UserByEmail finds an account by address, ignoring case.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1)`, email))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, fmt.Errorf("finding account: %w", err)
	}
	return u, err
}

// UserByID finds an account.
func (s *Store) UserByID(ctx context.Context, id uuid.UUID) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, fmt.Errorf("loading account: %w", err)
	}
	return u, err
}

// SetAdmin grants or revokes the admin role.
func (s *Store) SetAdmin(ctx context.Context, id uuid.UUID, admin bool) error {
	if _, err := s.pool.Exec(ctx, `UPDATE users SET is_admin = $2 WHERE id = $1`, id, admin); err != nil {
		return fmt.Errorf("setting admin: %w", err)
	}
	return nil
}

// SetPassword replaces an account's password hash.
func (s *Store) SetPassword(ctx context.Context, id uuid.UUID, hash string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, hash); err != nil {
		return fmt.Errorf("changing password: %w", err)
	}
	return nil
}

// DeleteUser removes an account and its images, and queues the deletion of
// their files, in one transaction.
func (s *Store) DeleteUser(ctx context.Context, id uuid.UUID, files FilesFunc) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("deleting account: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := s.deleteImagesTx(ctx, tx, files, `user_id = $1`, id); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id); err != nil {
		return fmt.Errorf("deleting account: %w", err)
	}
	return tx.Commit(ctx)
}

// RecordLoginFailure notes a failed sign-in for throttling.
func (s *Store) RecordLoginFailure(ctx context.Context, email string, ip netip.Addr) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO login_failures (email, ip) VALUES (lower($1), $2)`, email, ip); err != nil {
		return fmt.Errorf("recording failed sign-in: %w", err)
	}
	return nil
}

// LoginFailures counts failed sign-ins since the given time, for the
// account and for the address.
func (s *Store) LoginFailures(ctx context.Context, email string, ip netip.Addr, since time.Time) (byEmail, byIP int, err error) {
	err = s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM login_failures WHERE lower(email) = lower($1) AND at >= $3),
		(SELECT count(*) FROM login_failures WHERE ip = $2 AND at >= $3)`, email, ip, since).Scan(&byEmail, &byIP)
	if err != nil {
		return 0, 0, fmt.Errorf("counting failed sign-ins: %w", err)
	}
	return byEmail, byIP, nil
}

// ClearLoginFailures forgets an account's failures after a good sign-in.
func (s *Store) ClearLoginFailures(ctx context.Context, email string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE lower(email) = lower($1)`, email); err != nil {
		return fmt.Errorf("clearing failed sign-ins: %w", err)
	}
	return nil
}

// CreateResetToken stores the hash of a new reset token and voids the
// account's older unused ones.
func (s *Store) CreateResetToken(ctx context.Context, userID uuid.UUID, tokenHash []byte, expires time.Time) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("creating reset token: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL`, userID); err != nil {
		return fmt.Errorf("creating reset token: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)`,
		tokenHash, userID, expires); err != nil {
		return fmt.Errorf("creating reset token: %w", err)
	}
	return tx.Commit(ctx)
}

// ResetTokenValid reports whether a token hash may still be used.
func (s *Store) ResetTokenValid(ctx context.Context, tokenHash []byte) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM password_resets
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now())`, tokenHash).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("checking reset token: %w", err)
	}
	return ok, nil
}

// UseResetToken spends a token and sets the new password in one
// transaction, returning the account.
func (s *Store) UseResetToken(ctx context.Context, tokenHash []byte, passwordHash string) (User, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return User{}, fmt.Errorf("resetting password: %w", err)
	}
	defer tx.Rollback(ctx)
	var userID uuid.UUID
	err = tx.QueryRow(ctx, `UPDATE password_resets SET used_at = now()
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING user_id`, tokenHash).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrTokenInvalid
	}
	if err != nil {
		return User{}, fmt.Errorf("resetting password: %w", err)
	}
	u, err := scanUser(tx.QueryRow(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1 RETURNING `+userColumns, userID, passwordHash))
	if err != nil {
		return User{}, fmt.Errorf("resetting password: %w", err)
	}
	return u, tx.Commit(ctx)
}

// DeleteExpired removes expired sessions, and sign-in failures and reset
// tokens older than the given time.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time) error {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM sessions WHERE expiry < now()`)
	b.Queue(`DELETE FROM login_failures WHERE at < $1`, before)
	b.Queue(`DELETE FROM password_resets WHERE expires_at < $1`, before)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("deleting expired rows: %w", err)
	}
	return nil
}
