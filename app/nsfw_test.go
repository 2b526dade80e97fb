package app_test

import (
	"context"
	"math"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"captionai/config"
	"captionai/db"
	"captionai/testutil"
	"captionai/vocab"
)

// startChecked runs an app whose worker checks uploads with the real NSFW
// classifier at threshold hold (captions still come from the tiny model).
func startChecked(t *testing.T, hold float64) *server {
	return start(t, opts{roles: both, tweak: func(c *config.Config) {
		c.NSFWModel = filepath.Join(testutil.RepoRoot(t), "models", "nsfw-mobilenetv2")
		c.NSFWHold = hold
	}})
}

// captioned waits until the worker is done with image id.
func captioned(t *testing.T, s *server, id string) db.Image {
	t.Helper()
	uid, err := uuid.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		img, err := s.app.Store.Image(context.Background(), uid)
		if err != nil {
			t.Fatal(err)
		}
		if img.Status == vocab.Captioned {
			return img
		}
		if img.Status == vocab.Failed || time.Now().After(deadline) {
			t.Fatalf("image %s is %s: %s", id, img.Status, img.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkScores(t *testing.T, scores []float32) {
	t.Helper()
	sum := 0.0
	for _, p := range scores {
		sum += float64(p)
	}
	if len(scores) != 5 || math.Abs(sum-1) > 1e-4 {
		t.Errorf("nsfw_scores %v: want five probabilities", scores)
	}
}

// NSFW_HOLD=0 holds every upload: it is captioned, but only its owner and
// staff see it, it waits in the review queue with its scores, and a
// moderator's approval publishes it.
func TestNSFWHoldUntilApproved(t *testing.T) {
	t.Parallel()
	s := startChecked(t, 0)
	owner, other, mod := visitor(t, s.URL), visitor(t, s.URL), visitor(t, s.URL)
	owner.Signup("owner@example.com", "owner password")
	mod.Signup("mod@example.com", "mod password")
	testutil.Grant(t, s.app.Store, "mod@example.com", vocab.Moderator)
	mod.Login("mod@example.com", "mod password")

	id := owner.MustUpload(vocab.Public)
	img := captioned(t, s, id)
	if img.Caption == "" || img.Moderation != vocab.Held {
		t.Fatalf("caption %q, moderation %q: want a caption, held", img.Caption, img.Moderation)
	}
	checkScores(t, img.NSFWScores)
	if !regexp.MustCompile(`^The automatic check flagged it \((porn|sexy|hentai) [01]\.\d\d\)$`).MatchString(img.ModReason) {
		t.Errorf("reason %q", img.ModReason)
	}

	if code, _ := other.Get("/images/" + id); code != http.StatusNotFound {
		t.Errorf("another visitor sees the held image: %d", code)
	}
	if _, page := other.Get("/"); strings.Contains(page, id) {
		t.Error("the held image is in the public gallery")
	}
	if code, page := owner.Get("/images/" + id); code != http.StatusOK || !strings.Contains(page, "Waiting for review") {
		t.Errorf("owner: %d, waiting for review shown: %v", code, strings.Contains(page, "Waiting for review"))
	}
	code, queue := mod.Get("/admin/reports")
	if code != http.StatusOK || !strings.Contains(queue, id) || !strings.Contains(queue, "Held for review") ||
		!regexp.MustCompile(`Automatic check:\s*drawing \d+%`).MatchString(queue) {
		t.Fatalf("review queue (%d) does not list the held image with its scores:\n%.3000s", code, queue)
	}

	if code, _, _ := mod.Form("/admin/images/"+id+"/approve", nil); code != http.StatusSeeOther {
		t.Fatalf("approve: %d", code)
	}
	if code, _ := other.Get("/images/" + id); code != http.StatusOK {
		t.Errorf("after approval another visitor gets %d", code)
	}
	if _, queue := mod.Get("/admin/reports"); strings.Contains(queue, id) {
		t.Error("the approved image is still in the review queue")
	}
}

// At the default threshold an ordinary upload is scored but not held.
func TestNSFWDefaultDoesNotHoldOrdinaryUploads(t *testing.T) {
	t.Parallel()
	s := startChecked(t, config.Defaults().NSFWHold)
	owner, other := visitor(t, s.URL), visitor(t, s.URL)
	id := owner.MustUpload(vocab.Public)
	img := captioned(t, s, id)
	if img.Moderation != vocab.ModOK || img.ModReason != "" {
		t.Errorf("moderation %q (%q), want ok", img.Moderation, img.ModReason)
	}
	checkScores(t, img.NSFWScores)
	if code, _ := other.Get("/images/" + id); code != http.StatusOK {
		t.Errorf("another visitor gets %d", code)
	}
}
