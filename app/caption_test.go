package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"captionai/vocab"
)

// A regenerated caption arrives over SSE like the first one, and both are
// in the history.
func TestRegeneratedCaptionArrivesOverSSE(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	owner := visitor(t, s.URL)
	owner.Signup("owner@example.com", "owner password")
	id := owner.MustUpload(vocab.Public)
	events(t, s.URL+"/images/"+id+"/events", 30*time.Second)
	if code, _, _ := owner.Form("/images/"+id+"/regenerate", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("regenerate: %d", code)
	}
	evs := events(t, s.URL+"/images/"+id+"/events", 30*time.Second)
	last := evs[len(evs)-2]
	if last.name != "image-"+id || !strings.Contains(last.data, `data-status="captioned"`) {
		t.Fatalf("last event: %+v", last)
	}
	var versions int
	s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM caption_versions WHERE image_id = $1::uuid AND source = 'model'`, id).Scan(&versions)
	if versions != 2 {
		t.Errorf("%d model captions in the history, want 2", versions)
	}
}
