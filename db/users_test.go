package db_test

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"captionai/db"
	"captionai/testutil"
	"captionai/vocab"
)

func createUser(t *testing.T, s *db.Store, email string) db.User {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	u, created, err := db.CreateUserTx(ctx, tx, email, "hash")
	if err != nil || !created {
		t.Fatalf("creating %s: created %v, %v", email, created, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCreateUserTxFindsExisting(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	ctx := context.Background()
	u := createUser(t, s, "Someone@example.com")
	tx, _ := s.Begin(ctx)
	defer tx.Rollback(ctx)
	again, created, err := db.CreateUserTx(ctx, tx, "someone@EXAMPLE.com", "other")
	if err != nil || created || again.ID != u.ID || again.PasswordHash != "hash" {
		t.Fatalf("second sign-up: %+v created=%v err=%v", again, created, err)
	}
	if u.Role != vocab.User || u.Verified() {
		t.Fatalf("a new account is a verified %q", u.Role)
	}
}

// Forty attempts at once for one account from one address: the
// threshold's worth may go on to a password check, and one more only
// each time the delay since the last has passed (1 s, then 2 s, ...),
// which a loaded machine may take to get through the forty.
func TestBeginLoginIsAtomic(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	ip := netip.MustParseAddr("203.0.113.5")
	var allowed atomic.Int32
	var wg sync.WaitGroup
	start := time.Now()
	for range 40 {
		wg.Go(func() {
			wait, err := s.BeginLogin(context.Background(), "victim@example.com", ip)
			if err != nil {
				t.Error(err)
			}
			if wait == 0 {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	// k delays of 1, 2, 4, ... s take 2^k - 1 s in all.
	extra := int32(math.Log2(time.Since(start).Seconds() + 1))
	if n := allowed.Load(); n < 5 || n > 5+extra {
		t.Fatalf("%d of 40 concurrent attempts went ahead in %v, want 5 (+%d for the delays that passed)", n, time.Since(start), extra)
	}
}

// Failures from one address delay that address, progressively, but not the
// account's owner elsewhere; a success clears only its own pair.
func TestLoginDelaysAreProgressiveAndPerAddress(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	ctx := context.Background()
	attacker, owner := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("192.0.2.7")
	for i := range 5 {
		if wait, err := s.BeginLogin(ctx, "user@example.com", attacker); err != nil || wait != 0 {
			t.Fatalf("attempt %d: wait %v, %v", i+1, wait, err)
		}
	}
	wait, err := s.BeginLogin(ctx, "USER@example.com", attacker)
	if err != nil || wait <= 0 || wait > time.Second {
		t.Fatalf("6th attempt: wait %v (%v), want up to 1 s", wait, err)
	}
	if wait, err := s.BeginLogin(ctx, "user@example.com", owner); err != nil || wait != 0 {
		t.Fatalf("the owner's address is delayed %v (%v)", wait, err)
	}
	// Age the attacker's failures past the first delay: the next one waits 2 s.
	pool.Exec(ctx, `UPDATE login_failures SET at = at - interval '1.5 seconds' WHERE ip = $1`, attacker)
	if wait, err := s.BeginLogin(ctx, "user@example.com", attacker); err != nil || wait != 0 {
		t.Fatalf("after the delay: wait %v (%v)", wait, err)
	}
	if wait, _ := s.BeginLogin(ctx, "user@example.com", attacker); wait <= time.Second || wait > 2*time.Second {
		t.Fatalf("7th failure: wait %v, want 1-2 s", wait)
	}
	if err := s.LoginSucceeded(ctx, "user@example.com", owner); err != nil {
		t.Fatal(err)
	}
	if wait, _ := s.BeginLogin(ctx, "user@example.com", attacker); wait == 0 {
		t.Fatal("the owner's success cleared the attacker's failures")
	}
}

// Twenty requests of two events against a limit of 20: exactly ten fit.
func TestTakeIsAtomic(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	l := db.Limit{Action: "test", Max: 20, Window: time.Hour}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			wait, err := s.Take(context.Background(), l, "203.0.113.9", 2)
			if err != nil {
				t.Error(err)
			}
			if wait == 0 {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 10 {
		t.Fatalf("%d of 20 two-event takes fit a limit of 20, want 10", ok.Load())
	}
	if n, err := s.Used(context.Background(), l, "203.0.113.9"); n != 20 || err != nil {
		t.Fatalf("used %d, %v", n, err)
	}
	if n, _ := s.Used(context.Background(), l, "other"); n != 0 {
		t.Fatalf("another key used %d", n)
	}
	if wait, _ := s.Take(context.Background(), l, "203.0.113.9", 1); wait <= 0 || wait > time.Hour {
		t.Fatalf("over the limit: wait %v", wait)
	}
}

func TestRolesNeedAVerifiedAddress(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	ctx := context.Background()
	u := createUser(t, s, "ops@example.com")
	if _, err := s.SetRole(ctx, u.ID, vocab.Admin, "test", false, nil); !errors.Is(err, db.ErrUnverified) {
		t.Fatalf("unverified account got a role: %v", err)
	}
	got, err := s.SetRole(ctx, u.ID, vocab.Moderator, "cli", true, &db.Audit{ActorEmail: "command line"})
	if err != nil || got.Role != vocab.Moderator || !got.Verified() || got.SessionEpoch != u.SessionEpoch+1 {
		t.Fatalf("vouched grant: %+v, %v", got, err)
	}
	same, _ := s.SetRole(ctx, u.ID, vocab.Moderator, "cli", true, &db.Audit{ActorEmail: "command line"})
	if same.SessionEpoch != got.SessionEpoch {
		t.Fatal("granting the role it has signed the account out")
	}
	// The change, not the repeat, is on the record, in the same transaction.
	var n int
	pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'set role' AND target_user = $1 AND reason = 'now moderator'`, u.ID).Scan(&n)
	if n != 1 {
		t.Fatalf("%d audit records of the role change, want 1", n)
	}
}

func TestSyncBootstrapAdmins(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	ctx := context.Background()
	verified, unverified, cli := createUser(t, s, "admin@example.com"), createUser(t, s, "ops@example.com"), createUser(t, s, "root@example.com")
	pool.Exec(ctx, `UPDATE users SET verified_at = now() WHERE id = $1`, verified.ID)
	if _, err := s.SetRole(ctx, cli.ID, vocab.Admin, "cli", true, nil); err != nil {
		t.Fatal(err)
	}
	list := []string{"admin@example.com", "ops@example.com", "root@example.com"}
	if p, d, err := s.SyncBootstrapAdmins(ctx, list); p != 1 || d != 0 || err != nil {
		t.Fatalf("promoted %d demoted %d: %v", p, d, err)
	}
	role := func(id any) string {
		var r string
		pool.QueryRow(ctx, `SELECT role FROM users WHERE id = $1`, id).Scan(&r)
		return r
	}
	if role(verified.ID) != vocab.Admin || role(unverified.ID) != vocab.User {
		t.Fatalf("roles %s / %s", role(verified.ID), role(unverified.ID))
	}
	// Off the list: the bootstrap's admin goes back to user; the one the
	// command line made stays.
	if p, d, err := s.SyncBootstrapAdmins(ctx, nil); p != 0 || d != 1 || err != nil {
		t.Fatalf("promoted %d demoted %d: %v", p, d, err)
	}
	if role(verified.ID) != vocab.User || role(cli.ID) != vocab.Admin {
		t.Fatalf("after removal: %s / %s", role(verified.ID), role(cli.ID))
	}
}

func TestTokensWorkOnceForTheirPurpose(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	ctx := context.Background()
	u := createUser(t, s, "me@example.com")
	token, err := s.CreateToken(ctx, u.ID, db.TokenVerify, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var stored int
	pool.QueryRow(ctx, `SELECT count(*) FROM account_tokens WHERE token_hash = $1::text::bytea`, token).Scan(&stored)
	if stored != 0 {
		t.Fatal("the token is stored in the clear")
	}
	if ok, _ := s.TokenValid(ctx, db.TokenReset, token); ok {
		t.Fatal("a verify token works as a reset token")
	}
	if _, err := s.UseResetToken(ctx, token, "new"); !errors.Is(err, db.ErrTokenInvalid) {
		t.Fatalf("reset with a verify token: %v", err)
	}
	other := createUser(t, s, "other@example.com")
	if _, err := s.UseVerifyToken(ctx, token, other.ID); !errors.Is(err, db.ErrTokenInvalid) {
		t.Fatalf("another account used the token: %v", err)
	}
	got, err := s.UseVerifyToken(ctx, token, u.ID)
	if err != nil || !got.Verified() {
		t.Fatalf("verify: %+v, %v", got, err)
	}
	if _, err := s.UseVerifyToken(ctx, token, u.ID); !errors.Is(err, db.ErrTokenInvalid) {
		t.Fatalf("second use: %v", err)
	}
	expired, _ := s.CreateToken(ctx, u.ID, db.TokenReset, time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if ok, _ := s.TokenValid(ctx, db.TokenReset, expired); ok {
		t.Fatal("an expired token is valid")
	}
}
