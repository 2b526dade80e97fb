package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"captionai/testutil"
)

func TestSignInAndOut(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	v.Signup("me@example.com", "right password")
	if code, body := v.Get("/account"); code != http.StatusOK || !strings.Contains(body, "me@example.com") {
		t.Fatalf("signed in: /account %d", code)
	}
	if code, _, _ := v.Form("/logout", nil); code != http.StatusSeeOther {
		t.Fatalf("logout: %d", code)
	}
	if code, _ := v.Get("/account"); code != http.StatusSeeOther {
		t.Errorf("signed out: /account %d, want 303", code)
	}
	if code, body, _ := v.Form("/login", url.Values{"email": {"me@example.com"}, "password": {"wrong password"}}); code != http.StatusUnauthorized || !strings.Contains(body, "not right") {
		t.Errorf("wrong password: %d", code)
	}
	if code, body, _ := v.Form("/login", url.Values{"email": {"nobody@example.com"}, "password": {"any password"}}); code != http.StatusUnauthorized || !strings.Contains(body, "not right") {
		t.Errorf("unknown address: %d", code)
	}
	if code, body, _ := v.Form("/login", url.Values{"email": {"not an address"}, "password": {"x"}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "valid email") {
		t.Errorf("malformed address: %d", code)
	}
}

func TestSignInGoesToNextOnlyOnThisSite(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	v.Signup("me@example.com", "right password")
	for next, want := range map[string]string{"/account": "/account", "/\\evil.example/": "/me", "//evil.example": "/me", "https://evil.example/": "/me"} {
		_, _, h := v.Form("/login", url.Values{"email": {"me@example.com"}, "password": {"right password"}, "next": {next}})
		if h.Get("Location") != want {
			t.Errorf("next=%q: Location %q, want %q", next, h.Get("Location"), want)
		}
	}
}

func TestSignInIsThrottled(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	v.Signup("me@example.com", "right password")
	for range 5 {
		v.Form("/login", url.Values{"email": {"me@example.com"}, "password": {"wrong"}})
	}
	// Five more failures, so the delay owed (32 s) outlasts a slow test
	// machine between the last failure and the next attempt.
	s.pool.Exec(t.Context(), `INSERT INTO login_failures (email, ip) SELECT 'me@example.com', '127.0.0.1' FROM generate_series(1, 5)`)
	code, body, h := v.Form("/login", url.Values{"email": {"me@example.com"}, "password": {"right password"}})
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.Contains(body, "Too many failed sign-ins") {
		t.Errorf("6th attempt: %d", code)
	}
}

func TestSignupAnswersTheSameForTakenAddresses(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	_, first, _ := testutil.NewVisitor(t, s.URL).Form("/signup", url.Values{"email": {"x@example.com"}, "password": {"long enough"}})
	code, again, _ := testutil.NewVisitor(t, s.URL).Form("/signup", url.Values{"email": {"x@example.com"}, "password": {"another one"}})
	if code != http.StatusOK || first != again {
		t.Errorf("taken address: %d, same page %v", code, first == again)
	}
	for _, c := range []struct{ email, password, want string }{
		{"nope", "long enough", "valid email"}, {"y@example.com", "short", "at least 8"},
		{"y@example.com", strings.Repeat("p", 1001), "too long"},
	} {
		if code, body, _ := testutil.NewVisitor(t, s.URL).Form("/signup", url.Values{"email": {c.email}, "password": {c.password}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, c.want) {
			t.Errorf("signup %q: %d, want 422 %q", c.email, code, c.want)
		}
	}
}

func TestAccountPagesNeedSignIn(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	for _, path := range []string{"/account", "/verify?token=x"} {
		code, _ := v.Get(path)
		if code != http.StatusSeeOther {
			t.Errorf("anonymous %s: %d, want 303", path, code)
		}
	}
	for _, path := range []string{"/account/password", "/account/delete", "/account/verify", "/verify"} {
		if code, _, h := v.Form(path, nil); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
			t.Errorf("anonymous POST %s: %d %s", path, code, h.Get("Location"))
		}
	}
}

func TestBogusTokensAreGone(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	if code, _ := v.Get("/reset?token=bogus"); code != http.StatusGone {
		t.Errorf("reset page: %d, want 410", code)
	}
	if code, body, _ := v.Form("/reset", url.Values{"token": {"bogus"}, "password": {"long enough"}}); code != http.StatusGone || !strings.Contains(body, "invalid, already used or expired") {
		t.Errorf("reset: %d", code)
	}
	v.Signup("me@example.com", "long enough")
	if code, _, _ := v.Form("/verify", url.Values{"token": {"bogus"}}); code != http.StatusGone {
		t.Errorf("verify: %d, want 410", code)
	}
}

func TestForgotAnswersTheSameForAnyAddress(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	testutil.NewVisitor(t, s.URL).Signup("me@example.com", "long enough")
	v := testutil.NewVisitor(t, s.URL)
	_, a, _ := v.Form("/forgot", url.Values{"email": {"me@example.com"}})
	_, b, _ := v.Form("/forgot", url.Values{"email": {"no@example.com"}})
	if strings.ReplaceAll(a, "me@example.com", "X") != strings.ReplaceAll(b, "no@example.com", "X") {
		t.Error("/forgot answers differ")
	}
	var jobs int
	s.pool.QueryRow(t.Context(), `SELECT count(*) FROM river_job WHERE kind = 'reset_email'`).Scan(&jobs)
	if jobs != 2 {
		t.Errorf("%d reset jobs, want one per request", jobs)
	}
}

func TestPasswordChangesAreThrottled(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	v.Signup("me@example.com", "long enough")
	for range 10 {
		if code, _, _ := v.Form("/account/password", url.Values{"current_password": {"wrong"}, "password": {"new password"}}); code != http.StatusUnprocessableEntity {
			t.Fatalf("wrong current password: %d", code)
		}
	}
	if code, _, h := v.Form("/account/password", url.Values{"current_password": {"long enough"}, "password": {"new password"}}); code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("11th change in an hour: %d", code)
	}
}
