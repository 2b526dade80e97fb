package handlers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"captionai/db"
	"captionai/jobs"
	"captionai/notify"
	"captionai/static"
	"captionai/storage"
	"captionai/testutil"
)

// testServer is the handlers on a real per-test database, with River's
// insert-only client and no model.
type testServer struct {
	*httptest.Server
	pool *pgxpool.Pool
	h    *Handler
}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	pool, _ := testutil.NewDB(t)
	store := db.New(pool)
	river, err := jobs.NewInserter(pool, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	files, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sessions := scs.New()
	sessions.Store = pgxstore.NewWithCleanupInterval(pool, 0)
	sessions.Cookie.Name = "captionai_session"
	done := make(chan struct{})
	h := &Handler{
		DB: store, Users: store, Rates: store, Sessions: sessions, Files: files, Jobs: jobs.Queue{Client: river},
		Hub: notify.NewHub(), Static: static.FS, Log: testutil.Logger(t), Done: done,
		Limits:  Limits{MaxFileBytes: 20 << 20, MaxPixels: 50_000_000, MaxFiles: 20, GuestUploads: 100, GuestDays: 7},
		TempDir: t.TempDir(), JobsUI: testJobsUI(t, river),
	}
	srv := httptest.NewServer(h.Routes())
	t.Cleanup(func() { close(done); srv.Close() })
	return &testServer{Server: srv, pool: pool, h: h}
}

// With the database gone, a request with a session cookie gets our error
// page, and /readyz says what is down without naming hosts or users.
func TestOutageShowsOurPageAndNoDetails(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.pool.Close()
	req, _ := http.NewRequest("GET", s.URL+"/", nil)
	req.AddCookie(&http.Cookie{Name: "captionai_session", Value: "some-session-token"})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	if res.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "Something went wrong") || !strings.Contains(body, "<html") {
		t.Errorf("session store down: %d %.200q", res.StatusCode, body)
	}
	res, err = http.Get(s.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, res)
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"database":"unavailable"`) {
		t.Errorf("/readyz: %d %s", res.StatusCode, body)
	}
	for _, secret := range []string{"127.0.0.1", "5432", "postgres", "captionai_test"} {
		if strings.Contains(body, secret) {
			t.Errorf("/readyz shows %q: %s", secret, body)
		}
	}
}

// Password hashes wait for a free slot; a request that waits too long is
// told the server is busy (503 with Retry-After), not queued without bound.
func TestPasswordHashingIsBounded(t *testing.T) {
	for range cap(hashSlots) {
		hashSlots <- struct{}{}
	}
	defer func() {
		for range cap(hashSlots) {
			<-hashSlots
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := hashPassword(ctx, "long enough"); err != errBusy {
		t.Fatalf("hash with every slot taken: %v, want errBusy", err)
	}
	if _, err := passwordMatches(ctx, "x", ""); err != errBusy {
		t.Fatalf("check with every slot taken: %v, want errBusy", err)
	}
	// Timers never fire early, so a wait for hashWait instead of the
	// caller's 50 ms shows as at least hashWait; a loaded machine may
	// delay the 50 ms by seconds (1.9 s once in a full run).
	if d := time.Since(start); d >= hashWait {
		t.Fatalf("waited %v: hashWait (%v), not the caller's deadline", d, hashWait)
	}
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
