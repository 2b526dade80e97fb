package export_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/export"
	"captionai/storage"
	"captionai/testutil"
	"captionai/vocab"
)

// Only captions a person wrote, of public and unmoderated images, are
// exported, each with its image, in the Flickr8k layout.
func TestExportCaptions(t *testing.T) {
	pool, _ := testutil.NewDB(t)
	store := db.New(pool)
	files, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	jpg := testutil.JPEG(t, 8, 8)
	mk := func(vis, moderation string, edited string) uuid.UUID {
		img := db.Image{ID: uuid.New(), BatchID: uuid.New(), ContentType: "image/jpeg", SizeBytes: int64(len(jpg)),
			Width: 8, Height: 8, Visibility: vis}
		img.StorageKey = "images/" + img.ID.String() + ".jpg"
		if _, err := files.Put(ctx, img.StorageKey, bytes.NewReader(jpg)); err != nil {
			t.Fatal(err)
		}
		tx, _ := store.Begin(ctx)
		defer tx.Rollback(ctx)
		if err := db.InsertImagesTx(ctx, tx, []db.Image{img}); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkCaptionedTx(ctx, tx, img.ID, db.Caption{Text: "the model's words", Model: "m"}); err != nil {
			t.Fatal(err)
		}
		if edited != "" {
			if err := db.SetCaptionTx(ctx, tx, img.ID, edited, vocab.ByOwner, uuid.Nil); err != nil {
				t.Fatal(err)
			}
		}
		if moderation != vocab.ModOK {
			if err := db.SetModerationTx(ctx, tx, img.ID, moderation, "test"); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		return img.ID
	}
	want := mk(vocab.Public, vocab.ModOK, "a red kite over\tthe dunes")
	mk(vocab.Public, vocab.ModOK, "")               // the model's caption
	mk(vocab.Private, vocab.ModOK, "a private one") // not public
	mk(vocab.Public, vocab.Hidden, "a hidden one")  // moderated

	dir := t.TempDir()
	n, err := export.Captions(ctx, store, files, dir)
	if err != nil || n != 1 {
		t.Fatalf("exported %d, %v; want 1", n, err)
	}
	tsv, _ := os.ReadFile(filepath.Join(dir, "captions.tsv"))
	name := want.String() + ".jpg"
	if string(tsv) != name+"\ta red kite over the dunes\n" {
		t.Errorf("captions.tsv = %q", tsv)
	}
	train, _ := os.ReadFile(filepath.Join(dir, "splits", "train.txt"))
	if strings.TrimSpace(string(train)) != name {
		t.Errorf("train.txt = %q", train)
	}
	got, err := os.ReadFile(filepath.Join(dir, "images", name))
	if err != nil || !bytes.Equal(got, jpg) {
		t.Errorf("image: %v", err)
	}
	for _, f := range []string{"splits/dev.txt", "splits/test.txt", "README.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
