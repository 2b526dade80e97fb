package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"captionai/db"
	"captionai/testutil"
	"captionai/vocab"
)

func newImage(batch uuid.UUID) db.Image {
	id := uuid.New()
	return db.Image{ID: id, BatchID: batch, StorageKey: "images/" + id.String() + ".jpg",
		ContentType: "image/jpeg", OriginalName: "a.jpg", SizeBytes: 10, Width: 2, Height: 2, Visibility: vocab.Public}
}

// insertImages inserts imgs in a transaction of their own, each with the
// job id jobID gives it (or none).
func insertImages(t *testing.T, s *db.Store, imgs []db.Image, jobID func(tx pgx.Tx, img db.Image) int64) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for i := range imgs {
		if jobID != nil {
			id := jobID(tx, imgs[i])
			imgs[i].JobID = &id
		}
	}
	if err := db.InsertImagesTx(ctx, tx, imgs); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// Rows inserted in a transaction that fails are not left behind.
func TestInsertImagesTxIsTheCallersTransaction(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	ctx := context.Background()
	batch := uuid.New()
	imgs := []db.Image{newImage(batch), newImage(batch)}
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.InsertImagesTx(ctx, tx, imgs); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(ctx) // the caller's job insert failed, say
	if got, _ := s.Batch(ctx, batch); len(got) != 0 {
		t.Fatalf("%d rows left after a rolled-back transaction", len(got))
	}
	insertImages(t, s, imgs, func(pgx.Tx, db.Image) int64 { return 7 })
	got, _ := s.Batch(ctx, batch)
	if len(got) != 2 || got[0].Status != vocab.Queued || *got[0].JobID != 7 {
		t.Fatalf("got %+v", got)
	}
}

// An image whose job is gone, or ended without captioning it, is failed so
// it never shows "captioning" forever; one with a live job is left alone.
func TestFailOrphaned(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	ctx := context.Background()
	batch := uuid.New()
	orphan, live := newImage(batch), newImage(batch)
	insertImages(t, s, []db.Image{orphan, live}, func(tx pgx.Tx, img db.Image) int64 {
		var jobID int64
		state := "discarded"
		if img.ID == live.ID {
			state = "running"
		}
		err := tx.QueryRow(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, state, priority, finalized_at)
			VALUES ('{}', 'caption', 5, 'caption', $1::river_job_state, 1, CASE WHEN $1::text = 'discarded' THEN now() END) RETURNING id`, state).Scan(&jobID)
		if err != nil {
			t.Fatal(err)
		}
		return jobID
	})
	if _, err := pool.Exec(ctx, `UPDATE images SET status = 'captioning', created_at = now() - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	n, err := s.FailOrphaned(ctx)
	if err != nil || n != 1 {
		t.Fatalf("FailOrphaned = %d, %v; want 1", n, err)
	}
	o, _ := s.Image(ctx, orphan.ID)
	l, _ := s.Image(ctx, live.ID)
	if o.Status != vocab.Failed || o.Error == "" || l.Status != vocab.Captioning {
		t.Fatalf("orphan %s (%q), live %s", o.Status, o.Error, l.Status)
	}
}

// Unclaimed guest uploads older than the cutoff go, and their storage keys
// come back for the caller to queue; accounts' uploads stay.
func TestExpireGuestImages(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	ctx := context.Background()
	guest := uuid.New()
	old, fresh := newImage(uuid.New()), newImage(uuid.New())
	old.GuestID, fresh.GuestID = &guest, &guest
	old.Visibility, fresh.Visibility = vocab.Unlisted, vocab.Unlisted
	u := createUser(t, s, "keeper@example.com")
	kept := newImage(uuid.New())
	kept.UserID, kept.Visibility = &u.ID, vocab.Public
	insertImages(t, s, []db.Image{old, fresh, kept}, nil)
	pool.Exec(ctx, `UPDATE images SET created_at = now() - interval '8 days' WHERE id = ANY($1)`, []uuid.UUID{old.ID, kept.ID})

	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	keys, err := db.ExpireGuestImagesTx(ctx, tx, time.Now().Add(-7*24*time.Hour))
	if err != nil || len(keys) != 2 || keys[0] != old.StorageKey || keys[1] != db.DerivativeFolder(old.ID) {
		t.Fatalf("expired %v (%v), want only the old guest upload's file and derivatives", keys, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[uuid.UUID]bool{old.ID: false, fresh.ID: true, kept.ID: true} {
		_, err := s.Image(ctx, id)
		if exists := err == nil; exists != want {
			t.Errorf("image %s exists = %v, want %v", id, exists, want)
		}
	}
}

func TestDeleteExpired(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	ctx := context.Background()
	u := createUser(t, s, "x@example.com")
	pool.Exec(ctx, `INSERT INTO sessions VALUES ('old', '', now() - interval '1 hour'), ('live', '', now() + interval '1 hour')`)
	pool.Exec(ctx, `INSERT INTO login_failures (email, at) VALUES ('a', now() - interval '2 days'), ('b', now())`)
	s.CreateToken(ctx, u.ID, db.TokenReset, time.Millisecond)
	pool.Exec(ctx, `UPDATE account_tokens SET expires_at = now() - interval '48 hours'`)
	pool.Exec(ctx, `INSERT INTO rate_events (action, key, at) VALUES ('a', 'k', now() - interval '2 days'), ('a', 'k', now())`)
	if err := s.DeleteExpired(ctx, time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var sessions, failures, tokens, events int
	pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM login_failures),
		(SELECT count(*) FROM account_tokens), (SELECT count(*) FROM rate_events)`).Scan(&sessions, &failures, &tokens, &events)
	if sessions != 1 || failures != 1 || tokens != 0 || events != 1 {
		t.Fatalf("left %d sessions, %d failures, %d tokens, %d events; want 1, 1, 0, 1", sessions, failures, tokens, events)
	}
}
