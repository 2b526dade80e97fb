// Package testutil gives tests the real things: a fresh, migrated Postgres
// database per test, and the paths of the ONNX Runtime library and models.
package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"captionai/config"
	"captionai/migrations"
)

// AdminURL is the server tests create their databases on (TEST_DATABASE_URL).
func AdminURL() string {
	return config.Test().DatabaseURL
}

// NewDB creates an empty database for this test alone, applies every
// migration, and drops it when the test ends. It returns a pool and the
// database's URL.
func NewDB(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("tests need Postgres at %s (set TEST_DATABASE_URL, or run scripts/ensure-postgres.sh): %v", AdminURL(), err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "captionai_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			t.Logf("dropping %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("dropping %s: %v", name, err)
		}
	})

	cfg, err := pgx.ParseConfig(AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(AdminURL(), "/"+cfg.Database+"?", "/"+name+"?", 1)
	if !strings.Contains(url, name) {
		t.Fatalf("cannot derive a database URL from %s", AdminURL())
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := migrations.Up(ctx, pool, Logger(t)); err != nil {
		t.Fatal(err)
	}
	return pool, url
}

// RepoRoot is the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// ORTLib is the ONNX Runtime library: ORT_LIB, or the pinned one that
// `go tool task ort` fetched. A relative path is from the repository root,
// since each package's tests run in their own directory.
func ORTLib(t testing.TB) string {
	t.Helper()
	p := config.Test().ORTLib
	if !filepath.IsAbs(p) {
		p = filepath.Join(RepoRoot(t), p)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("ONNX Runtime library missing at %s: run `go tool task ort` (or scripts/fetch-ort.sh)", p)
	}
	return p
}

// TinyModel is the small random-weight test model in the real export format.
func TinyModel(t testing.TB) string {
	return filepath.Join(RepoRoot(t), "models", "tiny-random")
}

// Logger logs to the test's output when -v is set, else nowhere.
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
