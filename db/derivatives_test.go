package db_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/testutil"
)

func derivs(img db.Image, tag string) []db.Derivative {
	h := strings.Repeat(tag, 64)[:64]
	return []db.Derivative{
		{Kind: "view", StorageKey: "derivatives/" + img.ID.String() + "/view-" + h + ".webp", ContentType: "image/webp", Width: 1600, Height: 1200, SHA256: h, SizeBytes: 900},
		{Kind: "card", StorageKey: "derivatives/" + img.ID.String() + "/card-" + h + ".webp", ContentType: "image/webp", Width: 480, Height: 360, SHA256: h, SizeBytes: 100},
	}
}

// Derivatives are recorded once per kind (a second set reports its keys as
// unused, as does a set for a deleted image), load with their image
// smallest first, are listed for `storage copy`, and their keys come back
// with the image's when it is deleted, however it is.
func TestDerivatives(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	ctx := context.Background()
	u := createUser(t, s, "sizes@example.com")
	a, b := newImage(uuid.New()), newImage(uuid.New())
	a.UserID, b.UserID = &u.ID, &u.ID
	insertImages(t, s, []db.Image{a, b}, nil)

	first := derivs(a, "a")
	if unused, err := s.SaveDerivatives(ctx, a.ID, first); err != nil || len(unused) != 0 {
		t.Fatalf("saving: unused %v, %v", unused, err)
	}
	again := derivs(a, "b")
	unused, err := s.SaveDerivatives(ctx, a.ID, again)
	if err != nil || len(unused) != 2 || unused[0] != again[0].StorageKey {
		t.Fatalf("saving another set: unused %v, %v; want both its keys", unused, err)
	}
	if unused, err := s.SaveDerivatives(ctx, a.ID, first); err != nil || len(unused) != 0 {
		t.Fatalf("saving the same set again: unused %v (held by the rows), %v", unused, err)
	}
	if unused, err := s.SaveDerivatives(ctx, uuid.New(), derivs(b, "c")); err != nil || len(unused) != 2 {
		t.Fatalf("saving for a missing image: unused %v, %v", unused, err)
	}
	got, err := s.Image(ctx, a.ID)
	if err != nil || len(got.Derivatives) != 2 || got.Derivatives[0] != first[1] || got.Derivatives[1] != first[0] {
		t.Fatalf("loaded %+v (%v), want the card then the view", got.Derivatives, err)
	}
	if d, err := s.Derivative(ctx, a.ID, "view"); err != nil || d != first[0] {
		t.Errorf("Derivative: %+v, %v", d, err)
	}
	if _, err := s.Derivative(ctx, b.ID, "view"); err != db.ErrNotFound {
		t.Errorf("Derivative of an image without: %v", err)
	}
	if ok, err := s.HasDerivatives(ctx, a.ID, []string{"card", "view"}); !ok || err != nil {
		t.Errorf("HasDerivatives: %v %v", ok, err)
	}
	pool.Exec(ctx, `UPDATE images SET status = 'captioned'`)
	missing, err := s.ImagesMissingDerivatives(ctx, []string{"card", "view"}, uuid.Nil, 10)
	if err != nil || len(missing) != 1 || missing[0].ID != b.ID || missing[0].StorageKey != b.StorageKey {
		t.Errorf("missing: %+v, %v; want only b", missing, err)
	}

	keys, err := s.StorageKeys(ctx, "", 100)
	want := []string{a.StorageKey, b.StorageKey, first[0].StorageKey, first[1].StorageKey}
	slices.Sort(want)
	if err != nil || !slices.Equal(keys, want) {
		t.Errorf("StorageKeys %v (%v), want %v", keys, err, want)
	}

	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	gone, err := db.DeleteUserTx(ctx, tx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The files, and the derivatives' folders rather than their keys.
	want = []string{a.StorageKey, b.StorageKey, db.DerivativeFolder(a.ID), db.DerivativeFolder(b.ID)}
	slices.Sort(want)
	slices.Sort(gone)
	if !slices.Equal(gone, want) {
		t.Errorf("deleting the account returned %v, want %v", gone, want)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var left int
	pool.QueryRow(ctx, `SELECT count(*) FROM image_derivatives`).Scan(&left)
	if left != 0 {
		t.Errorf("%d derivative rows left", left)
	}
}
