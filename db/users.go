package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"captionai/vocab"
)

// ErrUnverified is returned when a role is given to an account whose
// address nobody has confirmed.
var ErrUnverified = errors.New("the account's email address is not verified")

// User is an account.
type User struct {
	ID             uuid.UUID
	Email          string
	PasswordHash   string
	Role           string
	VerifiedAt     *time.Time
	SessionEpoch   int    // bumped to sign out every session of the account
	LastVisibility string // the visibility of the last upload, "" before one
	CreatedAt      time.Time
	BannedAt       *time.Time
	BanReason      string
	DisplayName    string // shown beside public photos; "" when not chosen
}

func (u User) Verified() bool { return u.VerifiedAt != nil }

const userColumns = `id, email, password_hash, role, verified_at, session_epoch, coalesce(last_visibility, ''), created_at,
	banned_at, coalesce(ban_reason, ''), coalesce(display_name, '')`

// userDest is where a row of userColumns scans to.
func userDest(u *User) []any {
	return []any{&u.ID, &u.Email, &u.PasswordHash, &u.Role, &u.VerifiedAt, &u.SessionEpoch, &u.LastVisibility, &u.CreatedAt,
		&u.BannedAt, &u.BanReason, &u.DisplayName}
}

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(userDest(&u)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	return u, err
}

// CreateUserTx adds an unverified account unless one with the address
// exists; created says which. Either way it returns the account.
func CreateUserTx(ctx context.Context, tx pgx.Tx, email, passwordHash string) (u User, created bool, err error) {
	u, err = scanUser(tx.QueryRow(ctx, `INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)
		ON CONFLICT (lower(email)) DO NOTHING RETURNING `+userColumns, uuid.New(), email, passwordHash))
	if err == nil {
		return u, true, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return User{}, false, fmt.Errorf("creating account: %w", err)
	}
	u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1)`, email))
	if err != nil {
		return User{}, false, fmt.Errorf("creating account: %w", err)
	}
	return u, false, nil
}

// ClaimGuestImages moves a guest's uploads to an account.
func (s *Store) ClaimGuestImages(ctx context.Context, userID, guest uuid.UUID) error {
	if guest == uuid.Nil {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `UPDATE images SET user_id = $1, guest_id = NULL, uploader_ip = NULL
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

// SetRole gives an account a role, recording who granted it, and signs out
// its sessions when the role changes. vouch marks the address verified
// first (the operator's command line vouches for it); otherwise an
// unverified account gets ErrUnverified for any role but RoleUser. It
// returns the account as it is now.
//
// When the role changes and by is not nil, by (actor and reason filled in
// by the caller) goes into the audit log in the same transaction.
func (s *Store) SetRole(ctx context.Context, id uuid.UUID, role, grantedBy string, vouch bool, by *Audit) (User, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return User{}, fmt.Errorf("setting role: %w", err)
	}
	defer tx.Rollback(ctx)
	var before string
	if err := tx.QueryRow(ctx, `SELECT role FROM users WHERE id = $1 FOR UPDATE`, id).Scan(&before); errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	} else if err != nil {
		return User{}, fmt.Errorf("setting role: %w", err)
	}
	u, err := scanUser(tx.QueryRow(ctx, `UPDATE users SET
		verified_at = CASE WHEN $4 THEN coalesce(verified_at, now()) ELSE verified_at END,
		session_epoch = session_epoch + CASE WHEN role = $2 THEN 0 ELSE 1 END,
		role_granted_by = CASE WHEN role = $2 THEN role_granted_by ELSE $3 END,
		role = $2
		WHERE id = $1 RETURNING `+userColumns, id, role, grantedBy, vouch))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.ConstraintName == "users_role_needs_verified" {
		return User{}, ErrUnverified
	}
	if err != nil {
		return User{}, fmt.Errorf("setting role: %w", err)
	}
	if by != nil && before != role {
		a := *by
		a.Action, a.TargetUser, a.TargetEmail, a.Reason = vocab.ActSetRole, u.ID, u.Email, "now "+role
		if err := AuditTx(ctx, tx, a); err != nil {
			return User{}, err
		}
	}
	return u, tx.Commit(ctx)
}

// BootstrapGranter is what SetRole records for roles ADMIN_EMAILS gave.
const BootstrapGranter = "ADMIN_EMAILS"

// SyncBootstrapAdmins makes the verified accounts of emails admins, and
// takes the admin role back from accounts that got it from an earlier list
// but are no longer on it. Changed accounts are signed out everywhere.
func (s *Store) SyncBootstrapAdmins(ctx context.Context, emails []string) (promoted, demoted int64, err error) {
	if emails == nil {
		emails = []string{}
	}
	// Each change goes in the audit log, in the same statement.
	tag, err := s.pool.Exec(ctx, `WITH up AS (UPDATE users SET role = $3, role_granted_by = $2, session_epoch = session_epoch + 1
			WHERE lower(email) = ANY ($1) AND verified_at IS NOT NULL AND role <> $3 RETURNING id, email)
		INSERT INTO audit_log (actor_email, action, target_user, target_email, reason)
		SELECT $2, $4, id, email, 'now ' || $3 FROM up`, emails, BootstrapGranter, vocab.Admin, vocab.ActSetRole)
	if err != nil {
		return 0, 0, fmt.Errorf("granting ADMIN_EMAILS: %w", err)
	}
	promoted = tag.RowsAffected()
	tag, err = s.pool.Exec(ctx, `WITH up AS (UPDATE users SET role = $3, role_granted_by = NULL, session_epoch = session_epoch + 1
			WHERE role = $4 AND role_granted_by = $2 AND NOT lower(email) = ANY ($1) RETURNING id, email)
		INSERT INTO audit_log (actor_email, action, target_user, target_email, reason)
		SELECT $2, $5, id, email, 'now ' || $3 FROM up`, emails, BootstrapGranter, vocab.User, vocab.Admin, vocab.ActSetRole)
	if err != nil {
		return promoted, 0, fmt.Errorf("revoking ADMIN_EMAILS: %w", err)
	}
	return promoted, tag.RowsAffected(), nil
}

// SetPassword replaces an account's password hash and revokes its API
// tokens: whoever had the old password may have made them.
func (s *Store) SetPassword(ctx context.Context, id uuid.UUID, hash string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, hash); err != nil {
		return fmt.Errorf("changing password: %w", err)
	}
	return s.RevokeAllAPITokens(ctx, id)
}

// RevokeAllAPITokens revokes every API token of an account.
func (s *Store) RevokeAllAPITokens(ctx context.Context, id uuid.UUID) error {
	if _, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, id); err != nil {
		return fmt.Errorf("revoking API tokens: %w", err)
	}
	return nil
}

// SetDisplayName sets the name an account shows beside its public
// photos; "" clears it.
func (s *Store) SetDisplayName(ctx context.Context, id uuid.UUID, name string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE users SET display_name = nullif($2, '') WHERE id = $1`, id, name); err != nil {
		return fmt.Errorf("setting display name: %w", err)
	}
	return nil
}

// SetLastVisibility remembers the visibility an account last uploaded with.
func (s *Store) SetLastVisibility(ctx context.Context, id uuid.UUID, visibility string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE users SET last_visibility = $2 WHERE id = $1`, id, visibility); err != nil {
		return fmt.Errorf("remembering visibility: %w", err)
	}
	return nil
}

// DeleteUserTx removes an account and its images in the caller's
// transaction and returns the images' storage keys, for the caller to
// queue their deletion in the same transaction.
func DeleteUserTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) ([]string, error) {
	keys, err := deleteImagesTx(ctx, tx, `user_id = $1`, id)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id); err != nil {
		return nil, fmt.Errorf("deleting account: %w", err)
	}
	return keys, nil
}

// DeleteExpired removes expired sessions, and sign-in failures, tokens and
// rate-limit events older than the given time.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time) error {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM sessions WHERE expiry < now()`)
	b.Queue(`DELETE FROM login_failures WHERE at < $1`, before)
	b.Queue(`DELETE FROM account_tokens WHERE expires_at < $1`, before)
	b.Queue(`DELETE FROM rate_events WHERE at < $1`, before)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("deleting expired rows: %w", err)
	}
	return nil
}
