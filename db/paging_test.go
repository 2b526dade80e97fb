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

	seen := map[uuid.UUID]int{}
	for at, pages := (db.Cursor{}), 0; pages < 10; pages++ {
		page, err := s.AdminImages(ctx, db.AdminFilter{}, at, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, img := range page {
			seen[img.ID]++
		}
		last := page[len(page)-1]
		at = db.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
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
	logged := map[int64]int{}
	for at, pages := (db.AuditCursor{}), 0; pages < 10; pages++ {
		page, err := s.AuditLog(ctx, db.AuditFilter{}, at, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, a := range page {
			logged[a.ID]++
		}
		last := page[len(page)-1]
		at = db.AuditCursor{At: last.At, ID: last.ID}
	}
	if len(logged) != len(imgs) {
		t.Errorf("audit log: saw %d of %d entries", len(logged), len(imgs))
	}
	for id, n := range logged {
		if n != 1 {
			t.Errorf("audit log: entry %d on %d pages", id, n)
		}
	}
}
