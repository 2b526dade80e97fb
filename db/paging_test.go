package db_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/testutil"
	"captionai/vocab"
)

// The admin image list and the audit log page through rows that share
// their time (an upload's images, a bulk action's entries: one
// transaction each) without skipping or repeating any.
func TestStaffListsPageThroughTies(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	ctx := context.Background()
	batch := uuid.New()
	imgs := make([]db.Image, 5)
	for i := range imgs {
		imgs[i] = newImage(batch)
	}
	insertImages(t, s, imgs, nil)

	seen := pageAll(t, db.Cursor{}, func(at db.Cursor) ([]db.AdminImage, error) {
		return s.AdminImages(ctx, db.AdminFilter{}, at, 2)
	}, func(img db.AdminImage) (db.Cursor, uuid.UUID) {
		return db.Cursor{CreatedAt: img.CreatedAt, ID: img.ID}, img.ID
	})
	if len(seen) != len(imgs) {
		t.Errorf("admin list: saw %d of %d images", len(seen), len(imgs))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("admin list: image %s on %d pages", id, n)
		}
	}

	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		if err := db.AuditTx(ctx, tx, db.Audit{ActorEmail: "mod@example.com", Action: vocab.ActHide, TargetImage: img.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	logged := pageAll(t, db.AuditCursor{}, func(at db.AuditCursor) ([]db.Audit, error) {
		return s.AuditLog(ctx, db.AuditFilter{}, at, 2)
	}, func(a db.Audit) (db.AuditCursor, int64) { return db.AuditCursor{At: a.At, ID: a.ID}, a.ID })
	if len(logged) != len(imgs) {
		t.Errorf("audit log: saw %d of %d entries", len(logged), len(imgs))
	}
	for id, n := range logged {
		if n != 1 {
			t.Errorf("audit log: entry %d on %d pages", id, n)
		}
	}
}

// pageAll follows a newest-first list page by page, from first until a
// page comes back empty (at most 10 pages), and counts how often each row
// was seen. next gives a row's cursor and key.
func pageAll[R any, C any, K comparable](t *testing.T, first C, page func(C) ([]R, error), next func(R) (C, K)) map[K]int {
	t.Helper()
	seen := map[K]int{}
	for at, pages := first, 0; pages < 10; pages++ {
		rows, err := page(at)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			break
		}
		for _, r := range rows {
			_, k := next(r)
			seen[k]++
		}
		at, _ = next(rows[len(rows)-1])
	}
	return seen
}
