package db

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// APITokenPrefix starts every API token, so that one pasted into a log or
// a repository can be recognised (and searched for) as ours.
const APITokenPrefix = "cai_"

// apiTokenLen is the length of a token: the prefix and 256 random bits in
// unpadded base64url.
var apiTokenLen = len(APITokenPrefix) + base64.RawURLEncoding.EncodedLen(32)

// APIToken is a personal API token as its owner sees it; the token itself
// is known only when it is made.
type APIToken struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// WellFormedAPIToken reports whether s looks like a token we made, so that
// garbage is refused without a query.
func WellFormedAPIToken(s string) bool {
	if len(s) != apiTokenLen || !strings.HasPrefix(s, APITokenPrefix) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s[len(APITokenPrefix):])
	return err == nil
}

// CreateAPIToken makes a token of 256 random bits for the account and
// stores its hash; the token is returned to be shown once, never stored.
func (s *Store) CreateAPIToken(ctx context.Context, userID uuid.UUID, name string) (APIToken, string, error) {
	b := make([]byte, 32)
	rand.Read(b)
	token := APITokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	t := APIToken{ID: uuid.New(), UserID: userID, Name: name}
	err := s.pool.QueryRow(ctx, `INSERT INTO api_tokens (id, user_id, name, token_hash) VALUES ($1, $2, $3, $4) RETURNING created_at`,
		t.ID, userID, name, hashToken(token)).Scan(&t.CreatedAt)
	if err != nil {
		return APIToken{}, "", fmt.Errorf("creating API token: %w", err)
	}
	return t, token, nil
}

// APITokens lists the account's tokens, revoked ones included, newest first.
func (s *Store) APITokens(ctx context.Context, userID uuid.UUID) ([]APIToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, user_id, name, created_at, last_used_at, revoked_at
		FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("listing API tokens: %w", err)
	}
	toks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIToken, error) {
		var t APIToken
		err := r.Scan(&t.ID, &t.UserID, &t.Name, &t.CreatedAt, &t.LastUsedAt, &t.RevokedAt)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing API tokens: %w", err)
	}
	return toks, nil
}

// RevokeAPIToken revokes one of the account's tokens (again is fine); a
// token of another account is ErrNotFound.
func (s *Store) RevokeAPIToken(ctx context.Context, userID, id uuid.UUID) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return fmt.Errorf("revoking API token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// UserByAPIToken returns the account of a token that is not revoked, or
// ErrNotFound, and notes the use. In one round trip, writing last_used_at
// at most once a minute per token, so busy clients do not rewrite the row
// on every request.
func (s *Store) UserByAPIToken(ctx context.Context, token string) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `WITH t AS (
			SELECT id, user_id, last_used_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL
		), touched AS (
			UPDATE api_tokens SET last_used_at = now() FROM t
			WHERE api_tokens.id = t.id AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute')
		)
		SELECT `+userColumns+` FROM users WHERE id = (SELECT user_id FROM t)`, hashToken(token)))
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("checking API token: %w", err)
	}
	return u, nil
}
