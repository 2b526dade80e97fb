package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/testutil"
)

// captionAll marks every image captioned, as if a worker had run: the
// public gallery lists only captioned images.
func (s *testServer) captionAll(t *testing.T) {
	t.Helper()
	if _, err := s.pool.Exec(context.Background(), `UPDATE images SET status = 'captioned', caption = coalesce(caption, 'a test caption')`); err != nil {
		t.Fatal(err)
	}
}

// captioned stores a caption for id as the worker does.
func (s *testServer) captioned(t *testing.T, id, text string) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := db.MarkCaptionedTx(ctx, tx, uuid.MustParse(id), db.Caption{Text: text, Model: "tiny-random"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func getCaptionJSON(t *testing.T, v *testutil.Visitor, id string) map[string]any {
	t.Helper()
	code, body := v.Get("/images/"+id, "Accept", "application/json")
	if code != 200 {
		t.Fatalf("json: %d", code)
	}
	var m map[string]any
	json.Unmarshal([]byte(body), &m)
	return m
}

// The owner edits the caption (the model's stays in the history), others
// may not; the JSON says who wrote it; the history restores the model's.
func TestEditCaptionAndHistory(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	id := p.public
	p.s.captioned(t, id, "a dog on a beach")
	if code, _, _ := p.other.Form("/images/"+id+"/caption", url.Values{"text": {"vandalised"}}); code != http.StatusForbidden {
		t.Errorf("other user editing: %d, want 403", code)
	}
	if code, _, _ := p.other.Form("/images/"+p.private_+"/caption", url.Values{"text": {"x"}}); code != http.StatusNotFound {
		t.Errorf("editing an image one cannot see: %d, want 404", code)
	}
	if code, _, _ := p.owner.Form("/images/"+id+"/caption", url.Values{"text": {strings.Repeat("x", 301)}}); code != http.StatusUnprocessableEntity {
		t.Errorf("too long: %d", code)
	}
	if code, _, _ := p.owner.Form("/images/"+id+"/caption", url.Values{"text": {"  my dog   Rex on the beach "}}); code != http.StatusSeeOther {
		t.Fatalf("owner editing: %d", code)
	}
	_, page := p.anon.Get("/images/" + id)
	if !strings.Contains(page, `alt="my dog Rex on the beach"`) || !strings.Contains(page, "edited by the owner") {
		t.Error("the edited caption is not the alt text, or not marked")
	}
	m := getCaptionJSON(t, p.anon, id)
	if m["caption"] != "my dog Rex on the beach" || m["caption_source"] != "owner" || m["edited"] != true {
		t.Errorf("json: %v", m)
	}
	if _, ok := m["confidence"]; !ok {
		t.Error("json has no confidence field")
	}
	// htmx edits in place: out-of-band parts, no page.
	code, frag, _ := p.owner.Form("/images/"+id+"/caption", url.Values{"text": {"Rex"}}, "HX-Request", "true")
	if code != 200 || strings.Contains(frag, "<html") || !strings.Contains(frag, `hx-swap-oob="true"`) {
		t.Errorf("htmx edit: %d %s", code, frag)
	}
	code, hist := p.owner.Get("/images/" + id + "/captions")
	if code != 200 || !strings.Contains(hist, "a dog on a beach") || !strings.Contains(hist, "the model tiny-random") || !strings.Contains(hist, "my dog Rex") {
		t.Fatalf("history: %d", code)
	}
	var first int64
	p.s.pool.QueryRow(context.Background(), `SELECT min(id) FROM caption_versions`).Scan(&first)
	restore := "/images/" + id + "/captions/" + itoaTest(first) + "/restore"
	if code, _, _ := p.other.Form(restore, nil); code != http.StatusForbidden {
		t.Errorf("other user restoring: %d", code)
	}
	if code, _, _ := p.owner.Form(restore, nil); code != http.StatusSeeOther {
		t.Fatalf("restore: %d", code)
	}
	if m := getCaptionJSON(t, p.anon, id); m["caption"] != "a dog on a beach" || m["edited"] != false {
		t.Errorf("after restore: %v", m)
	}
}

func itoaTest(n int64) string { return strconv.FormatInt(n, 10) }

// One vote per account, changeable; counts for the owner; anonymous
// visitors cannot vote.
func TestRateCaption(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	id := p.public
	if code, _, _ := p.other.Form("/images/"+id+"/rating", url.Values{"rating": {"good"}}); code != http.StatusConflict {
		t.Errorf("rating before a caption: %d, want 409", code)
	}
	p.s.captioned(t, id, "a cat")
	if code, _, _ := p.anon.Form("/images/"+id+"/rating", url.Values{"rating": {"good"}}); code != http.StatusUnauthorized {
		t.Errorf("anonymous rating: %d, want 401", code)
	}
	if code, _, _ := p.other.Form("/images/"+id+"/rating", url.Values{"rating": {"meh"}}); code != http.StatusUnprocessableEntity {
		t.Errorf("unknown rating: %d", code)
	}
	p.other.Form("/images/"+id+"/rating", url.Values{"rating": {"good"}})
	p.other.Form("/images/"+id+"/rating", url.Values{"rating": {"bad"}}) // changed mind
	code, frag, _ := p.admin.Form("/images/"+id+"/rating", url.Values{"rating": {"bad"}}, "HX-Request", "true")
	if code != 200 || !strings.Contains(frag, `id="rating"`) || !strings.Contains(frag, `aria-pressed="true"`) {
		t.Errorf("htmx rating: %d %s", code, frag)
	}
	if m := getCaptionJSON(t, p.anon, id); m["ratings"] != nil {
		t.Errorf("anonymous JSON shows the counts: %v", m["ratings"])
	}
	m := getCaptionJSON(t, p.owner, id)
	r, _ := m["ratings"].(map[string]any)
	if r["good"] != 0.0 || r["bad"] != 2.0 {
		t.Errorf("ratings %v, want 0 good and 2 bad", r)
	}
	if _, page := p.owner.Get("/images/" + id); !strings.Contains(page, "2 bad votes") {
		t.Error("the owner does not see the counts")
	}
	if _, page := p.other.Get("/images/" + id); strings.Contains(page, "bad vote") {
		t.Error("another user sees the counts")
	}
}

// Regenerating queues a new caption job in one step with the image; the
// old caption stays in the history.
func TestRegenerateQueuesANewJob(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	id := p.public
	p.s.captioned(t, id, "first caption")
	if code, _, _ := p.other.Form("/images/"+id+"/regenerate", nil); code != http.StatusForbidden {
		t.Errorf("other user: %d", code)
	}
	if code, _, _ := p.owner.Form("/images/"+id+"/regenerate", url.Values{"model": {"gpt-99"}}); code != http.StatusUnprocessableEntity {
		t.Errorf("unknown model: %d", code)
	}
	if code, _, _ := p.owner.Form("/images/"+id+"/regenerate", nil); code != http.StatusSeeOther {
		t.Fatalf("regenerate: %d", code)
	}
	var status string
	var jobs int
	p.s.pool.QueryRow(context.Background(), `SELECT status, (SELECT count(*) FROM river_job j WHERE j.kind = 'caption' AND j.args->>'image_id' = $1)
		FROM images WHERE id = $1::uuid`, id).Scan(&status, &jobs)
	if status != "queued" || jobs != 2 {
		t.Errorf("after regenerate: %s with %d caption jobs, want queued with 2", status, jobs)
	}
	if code, _, _ := p.owner.Form("/images/"+id+"/regenerate", nil); code != http.StatusConflict {
		t.Errorf("regenerating while queued: %d, want 409", code)
	}
	if _, hist := p.owner.Get("/images/" + id + "/captions"); !strings.Contains(hist, "first caption") {
		t.Error("the old caption left the history")
	}
}
