package db

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sign-in throttling (OWASP's progressive delays instead of a lock-out):
// failures are counted over a window per account and address pair, per
// address and per account. Past a key's threshold every further attempt
// must wait twice as long as the one before since that key's last failure.
// A stranger's failures delay the stranger's own pair and address; the
// account-wide delay is capped low, so nobody can lock a user out.
const (
	LoginWindow         = 15 * time.Minute
	loginPairThreshold  = 5
	loginIPThreshold    = 20
	loginUserThreshold  = 50
	loginUserMaxDelay   = 30 * time.Second
	loginOtherMaxDelay  = LoginWindow
	advisoryLoginUser   = 1 // advisory lock class ids
	advisoryLoginIP     = 2
	advisoryRateLimited = 3
)

// backoff is the wait owed after n failures of a key with the given
// threshold: none below it, then 1 s, 2 s, 4 s, ... up to max.
func backoff(n, threshold int, max time.Duration) time.Duration {
	if n < threshold {
		return 0
	}
	d := time.Duration(math.Pow(2, float64(min(n-threshold, 30)))) * time.Second
	return min(d, max)
}

// BeginLogin decides, in one locked step before any password hash is
// checked, whether a sign-in attempt may go ahead. If it may, the attempt
// is recorded as a failure straight away, so that concurrent attempts count
// against each other; LoginSucceeded takes it back. Otherwise it returns how
// long to wait and records nothing.
func (s *Store) BeginLogin(ctx context.Context, email string, ip netip.Addr) (wait time.Duration, err error) {
	email = strings.ToLower(email)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("checking sign-in throttle: %w", err)
	}
	defer tx.Rollback(ctx)
	// Always the account's lock before the address's, so two attempts
	// never wait for each other in a cycle.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2)), pg_advisory_xact_lock($3, hashtext($4))`,
		advisoryLoginUser, email, advisoryLoginIP, ip.String()); err != nil {
		return 0, fmt.Errorf("checking sign-in throttle: %w", err)
	}
	type key struct {
		n     int
		since float64 // seconds since the key's last failure
	}
	var pair, byIP, byUser key
	err = tx.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE lower(email) = $1 AND ip = $2), coalesce(extract(epoch FROM now() - max(at) FILTER (WHERE lower(email) = $1 AND ip = $2)), 0),
		count(*) FILTER (WHERE ip = $2), coalesce(extract(epoch FROM now() - max(at) FILTER (WHERE ip = $2)), 0),
		count(*) FILTER (WHERE lower(email) = $1), coalesce(extract(epoch FROM now() - max(at) FILTER (WHERE lower(email) = $1)), 0)
		FROM login_failures WHERE (lower(email) = $1 OR ip = $2) AND at > now() - $3::interval`,
		email, ip, LoginWindow).Scan(&pair.n, &pair.since, &byIP.n, &byIP.since, &byUser.n, &byUser.since)
	if err != nil {
		return 0, fmt.Errorf("checking sign-in throttle: %w", err)
	}
	owed := func(k key, threshold int, max time.Duration) time.Duration {
		return backoff(k.n, threshold, max) - time.Duration(k.since*float64(time.Second))
	}
	wait = max(owed(pair, loginPairThreshold, loginOtherMaxDelay), owed(byIP, loginIPThreshold, loginOtherMaxDelay),
		owed(byUser, loginUserThreshold, loginUserMaxDelay))
	if wait > 0 {
		return wait, nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO login_failures (email, ip) VALUES ($1, $2)`, email, ip); err != nil {
		return 0, fmt.Errorf("recording sign-in attempt: %w", err)
	}
	return 0, tx.Commit(ctx)
}

// LoginSucceeded forgets the failures of an account from this address,
// the attempt BeginLogin recorded included.
func (s *Store) LoginSucceeded(ctx context.Context, email string, ip netip.Addr) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE lower(email) = lower($1) AND ip = $2`, email, ip); err != nil {
		return fmt.Errorf("clearing failed sign-ins: %w", err)
	}
	return nil
}

// ClearLoginFailures forgets every failure of an account, after its owner
// proved control of the address by resetting the password.
func (s *Store) ClearLoginFailures(ctx context.Context, email string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE email = lower($1)`, email); err != nil {
		return fmt.Errorf("clearing failed sign-ins: %w", err)
	}
	return nil
}

// Limit is a rate limit: at most Max events per Window for one key.
type Limit struct {
	Action string // what is counted, e.g. "signup"
	Max    int
	Window time.Duration // at most a day: older events are deleted
}

// Take counts n events against the limit for key, atomically: either all n
// fit and are recorded, or none is and wait says when to try again.
func (s *Store) Take(ctx context.Context, l Limit, key string, n int) (wait time.Duration, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("checking %s limit: %w", l.Action, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, advisoryRateLimited, l.Action+"/"+key); err != nil {
		return 0, fmt.Errorf("checking %s limit: %w", l.Action, err)
	}
	used, oldest, err := usedTx(ctx, tx, l, key)
	if err != nil {
		return 0, err
	}
	if used+n > l.Max {
		if used == 0 { // n alone is over the limit: waiting will not help
			return l.Window, nil
		}
		return max(l.Window-time.Duration(oldest*float64(time.Second)), time.Second), nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO rate_events (action, key) SELECT $1, $2 FROM generate_series(1, $3)`,
		l.Action, key, n); err != nil {
		return 0, fmt.Errorf("recording %s: %w", l.Action, err)
	}
	return 0, tx.Commit(ctx)
}

// Used counts the events of key in the limit's window, without taking any.
func (s *Store) Used(ctx context.Context, l Limit, key string) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("checking %s limit: %w", l.Action, err)
	}
	defer tx.Rollback(ctx)
	n, _, err := usedTx(ctx, tx, l, key)
	return n, err
}

// usedTx returns the count of key's events in the window and the age in
// seconds of the oldest.
func usedTx(ctx context.Context, tx pgx.Tx, l Limit, key string) (int, float64, error) {
	var n int
	var oldest float64
	err := tx.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM now() - min(at)), 0) FROM rate_events
		WHERE action = $1 AND key = $2 AND at > now() - $3::interval`, l.Action, key, l.Window).Scan(&n, &oldest)
	if err != nil {
		return 0, 0, fmt.Errorf("checking %s limit: %w", l.Action, err)
	}
	return n, oldest, nil
}
