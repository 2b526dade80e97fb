package db_test

import (
	"context"
	"errors"
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

// A failed job insert must leave no image row behind.
func TestCreateImagesIsAllOrNothing(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	ctx := context.Background()
	batch := uuid.New()
	imgs := []db.Image{newImage(batch), newImage(batch)}
	calls := 0
	err := s.CreateImages(ctx, imgs, func(ctx context.Context, tx pgx.Tx, id uuid.UUID) (int64, error) {
		calls++
		if calls == 2 {
			return 0, errors.New("queue unavailable")
		}
		return int64(calls), nil
	})
	if err == nil {
		t.Fatal("want an error")
	}
	got, err := s.Batch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("%d rows left after a failed transaction", len(got))
	}

	if err := s.CreateImages(ctx, imgs, func(context.Context, pgx.Tx, uuid.UUID) (int64, error) { return 7, nil }); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Batch(ctx, batch)
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
	if err := s.CreateImages(ctx, []db.Image{orphan, live}, func(ctx context.Context, tx pgx.Tx, id uuid.UUID) (int64, error) {
		var jobID int64
		state := "discarded"
		if id == live.ID {
			state = "running"
		}
		err := tx.QueryRow(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, state, priority, finalized_at)
			VALUES ('{}', 'caption', 5, 'caption', $1::river_job_state, 1, CASE WHEN $1::text = 'discarded' THEN now() END) RETURNING id`, state).Scan(&jobID)
		return jobID, err
	}); err != nil {
		t.Fatal(err)
	}
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

// Unclaimed guest uploads older than the cutoff go, with their files
// queued for deletion in the same transaction; accounts' uploads stay.
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
	noJob := func(context.Context, pgx.Tx, uuid.UUID) (int64, error) { return 1, nil }
	if err := s.CreateImages(ctx, []db.Image{old, fresh, kept}, noJob); err != nil {
		t.Fatal(err)
	}
	pool.Exec(ctx, `UPDATE images SET created_at = now() - interval '8 days' WHERE id = ANY($1)`, []uuid.UUID{old.ID, kept.ID})

	var queued []string
	n, err := s.ExpireGuestImages(ctx, time.Now().Add(-7*24*time.Hour), func(ctx context.Context, tx pgx.Tx, keys []string) error {
		queued = append(queued, keys...)
		return nil
	})
	if err != nil || n != 1 || len(queued) != 1 || queued[0] != old.StorageKey {
		t.Fatalf("expired %d (%v), queued %v", n, err, queued)
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
