package db_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"captionai/db"
	"captionai/testutil"
	"captionai/vocab"
)

// inTx runs f in a transaction and commits it.
func inTx(t *testing.T, s *db.Store, f func(tx pgx.Tx) error) error {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// The model's confidence lives on its caption version: the image reads its
// current version's, a person's edit has none, a restore brings it back,
// and the schema refuses certainties that are not ours.
func TestCaptionConfidenceFollowsTheCurrentVersion(t *testing.T) {
	t.Parallel()
	pool, _ := testutil.NewDB(t)
	s := db.New(pool)
	ctx := context.Background()
	u := createUser(t, s, "owner@example.com")
	img := newImage(uuid.New())
	img.UserID = &u.ID
	insertImages(t, s, []db.Image{img}, nil)

	conf := 0.42
	if err := inTx(t, s, func(tx pgx.Tx) error {
		return db.MarkCaptionedTx(ctx, tx, img.ID, db.Caption{Text: "a dog runs on grass", Model: "m", Confidence: &conf, Certainty: vocab.Probable})
	}); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want *float64, certainty string) {
		t.Helper()
		got, err := s.Image(ctx, img.ID)
		if err != nil {
			t.Fatal(err)
		}
		if (got.Confidence == nil) != (want == nil) || (want != nil && *got.Confidence != *want) || got.Certainty != certainty {
			t.Errorf("%s: confidence %v, certainty %q; want %v, %q", when, got.Confidence, got.Certainty, want, certainty)
		}
	}
	check("model caption", &conf, vocab.Probable)

	if err := inTx(t, s, func(tx pgx.Tx) error {
		return db.SetCaptionTx(ctx, tx, img.ID, "Rex on the lawn", vocab.ByOwner, u.ID)
	}); err != nil {
		t.Fatal(err)
	}
	check("owner's edit", nil, "")

	hist, err := s.CaptionHistory(ctx, img.ID)
	if err != nil || len(hist) != 2 {
		t.Fatalf("history %+v, %v", hist, err)
	}
	if hist[0].Confidence != nil || hist[1].Confidence == nil || *hist[1].Confidence != 0.42 || hist[1].Certainty != vocab.Probable {
		t.Errorf("history: %+v", hist)
	}
	if err := inTx(t, s, func(tx pgx.Tx) error { return db.RestoreCaptionTx(ctx, tx, img.ID, hist[1].ID) }); err != nil {
		t.Fatal(err)
	}
	check("restored", &conf, vocab.Probable)
	// Lists read it too (the gallery's query).
	if list, err := s.PublicAfter(ctx, "", db.Cursor{}, 10); err != nil || len(list) != 1 || list[0].Confidence == nil || list[0].Certainty != vocab.Probable {
		t.Errorf("gallery: %+v, %v", list, err)
	}

	if err := inTx(t, s, func(tx pgx.Tx) error {
		return db.MarkCaptionedTx(ctx, tx, img.ID, db.Caption{Text: "a dog", Model: "tiny-random"})
	}); err != nil {
		t.Fatal(err)
	}
	check("uncalibrated model", nil, "")

	bad := 1.5
	for name, c := range map[string]db.Caption{
		"unknown certainty":        {Text: "x", Confidence: &conf, Certainty: "maybe"},
		"confidence above 1":       {Text: "x", Confidence: &bad, Certainty: vocab.Sure},
		"certainty, no confidence": {Text: "x", Certainty: vocab.Sure},
	} {
		if err := inTx(t, s, func(tx pgx.Tx) error { return db.MarkCaptionedTx(ctx, tx, img.ID, c) }); err == nil {
			t.Errorf("%s: stored", name)
		}
	}
	if _, err := pool.Exec(ctx, `UPDATE caption_versions SET confidence = 0.5, certainty = 'sure' WHERE source = 'owner'`); err == nil {
		t.Error("a person's caption took a confidence")
	}
}
