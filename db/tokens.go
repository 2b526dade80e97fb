package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ErrTokenInvalid is returned for a mailed token that is unknown, used or
// expired.
var ErrTokenInvalid = errors.New("this link is invalid, used or expired")

// Purposes of mailed tokens.
const (
	TokenReset  = "reset"
	TokenVerify = "verify"
)

// hashToken is all the database keeps of a token.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateToken makes a single-use token of 256 random bits for the account,
// stores its hash and voids the account's older unused tokens of the same
// purpose. The token itself is returned to be mailed, never stored.
func (s *Store) CreateToken(ctx context.Context, userID uuid.UUID, purpose string, ttl time.Duration) (string, error) {
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	batch := &pgx.Batch{}
	batch.Queue(`DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL`, userID, purpose)
	batch.Queue(`INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at) VALUES ($1, $2, $3, now() + $4::interval)`,
		hashToken(token), userID, purpose, ttl)
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		return "", fmt.Errorf("creating %s token: %w", purpose, err)
	}
	return token, nil
}

// TokenValid reports whether a token may still be used, without using it.
func (s *Store) TokenValid(ctx context.Context, purpose, token string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM account_tokens
		WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now())`, hashToken(token), purpose).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("checking %s token: %w", purpose, err)
	}
	return ok, nil
}

// useTokenTx spends a token inside tx and returns its account's id.
func useTokenTx(ctx context.Context, tx pgx.Tx, purpose, token string) (uuid.UUID, error) {
	var userID uuid.UUID
	err := tx.QueryRow(ctx, `UPDATE account_tokens SET used_at = now()
		WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now() RETURNING user_id`,
		hashToken(token), purpose).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, ErrTokenInvalid
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("using %s token: %w", purpose, err)
	}
	return userID, nil
}

// UseResetToken spends a reset token and sets the new password in one
// transaction, returning the account. Using the link proves control of
// the address, so it also counts as verifying it.
func (s *Store) UseResetToken(ctx context.Context, token, passwordHash string) (User, error) {
	u, err := s.useToken(ctx, TokenReset, token, uuid.Nil, `password_hash = $2, verified_at = coalesce(verified_at, now())`, passwordHash)
	if err == nil {
		err = s.RevokeAllAPITokens(ctx, u.ID)
	}
	return u, err
}

// UseVerifyToken spends a verification token of the account userID and
// marks its address verified, returning the account. A token of another
// account is ErrTokenInvalid: confirming takes both the mailbox and the
// password, so whoever signed up with someone else's address cannot have
// the owner confirm it for them.
func (s *Store) UseVerifyToken(ctx context.Context, token string, userID uuid.UUID) (User, error) {
	return s.useToken(ctx, TokenVerify, token, userID, `verified_at = coalesce(verified_at, now())`)
}

// useToken spends a token (of owner, unless Nil) and applies set to its
// account in one transaction.
func (s *Store) useToken(ctx context.Context, purpose, token string, owner uuid.UUID, set string, args ...any) (User, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return User{}, fmt.Errorf("using %s token: %w", purpose, err)
	}
	defer tx.Rollback(ctx)
	userID, err := useTokenTx(ctx, tx, purpose, token)
	if err != nil {
		return User{}, err
	}
	if owner != uuid.Nil && userID != owner {
		return User{}, ErrTokenInvalid
	}
	u, err := scanUser(tx.QueryRow(ctx, `UPDATE users SET `+set+` WHERE id = $1 RETURNING `+userColumns,
		append([]any{userID}, args...)...))
	if err != nil {
		return User{}, fmt.Errorf("using %s token: %w", purpose, err)
	}
	return u, tx.Commit(ctx)
}
