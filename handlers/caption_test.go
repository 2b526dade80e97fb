package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/testutil"
	"captionai/vocab"
)

// captionAll marks every image captioned, as if a worker had run: the
// public gallery lists only captioned images.
func (s *testServer) captionAll(t *testing.T) {
	t.Helper()
	if _, err := s.pool.Exec(context.Background(), `UPDATE images SET status = 'captioned', caption = coalesce(caption, 'a test caption')`); err != nil {
		t.Fatal(err)
	}
}

// captioned stores a caption for id as the worker does, from a model
// that measures no confidence.
func (s *testServer) captioned(t *testing.T, id, text string) {
	t.Helper()
	s.captionedAs(t, id, db.Caption{Text: text, Model: "tiny-random"})
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

// captionedAs stores c as id's caption through the function the caption
// job uses.
func (s *testServer) captionedAs(t *testing.T, id string, c db.Caption) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := db.MarkCaptionedTx(ctx, tx, uuid.MustParse(id), c); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// A probable caption is hedged wherever it is shown, in the alt text too,
// and the JSON carries its confidence; a person's edit is shown plainly,
// and restoring the model's brings the hedge back.
func TestProbableCaptionIsHedged(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	id := p.public
	conf := 0.42
	p.s.captionedAs(t, id, db.Caption{Text: "a dog runs on grass", Model: "captionai-flickr8k",
		Confidence: &conf, Certainty: vocab.Probable})

	const alt = `alt="Probably: a dog runs on grass"`
	const shown = `<span class="hedge">Probably: </span>a dog runs on grass`
	hedged := func(where, page string) {
		t.Helper()
		if !strings.Contains(page, alt) || !strings.Contains(page, shown) {
			t.Errorf("%s: no hedge in the caption or its alt text:\n%s", where, page)
		}
	}
	_, page := p.anon.Get("/images/" + id)
	hedged("image page", page)
	if !strings.Contains(page, "<title>Probably: a dog runs on grass") || !strings.Contains(page, "42%, probably right") {
		t.Error("image page: the title is not hedged, or the details lack the confidence")
	}
	_, home := p.anon.Get("/")
	hedged("gallery", home)
	_, me := p.owner.Get("/me")
	hedged("/me", me)
	_, admin := p.admin.Get("/admin")
	if !strings.Contains(admin, alt) || !strings.Contains(admin, shown) {
		t.Error("admin list: the caption is not hedged")
	}
	// The SSE fragments: the image page's parts, and /me's cards.
	if _, ev := p.anon.Get("/images/" + id + "/events"); !strings.Contains(ev, alt) || !strings.Contains(ev, shown) {
		t.Errorf("image events not hedged: %s", ev)
	}
	// /me's stream stays open for the owner's other uploads, still queued.
	if ev := streamUntil(t, p.owner, "/me/events", shown); !strings.Contains(ev, alt) || !strings.Contains(ev, shown) {
		t.Errorf("/me events not hedged: %s", ev)
	}

	m := getCaptionJSON(t, p.anon, id)
	if m["confidence"] != 0.42 || m["certainty"] != "probable" || m["caption"] != "a dog runs on grass" {
		t.Errorf("json: %v", m)
	}
	if code, body := p.anon.Get("/api/images/"+id, "Accept", "application/json"); code != 200 ||
		!strings.Contains(body, `"confidence":0.42`) || !strings.Contains(body, `"certainty":"probable"`) {
		t.Errorf("api: %d %s", code, body)
	}
	if _, hist := p.owner.Get("/images/" + id + "/captions"); !strings.Contains(hist, "confidence 42%, probably right") || !strings.Contains(hist, shown) {
		t.Errorf("history does not show the confidence:\n%s", hist)
	}

	// The owner's own words: certain, shown plainly, no confidence.
	if code, _, _ := p.owner.Form("/images/"+id+"/caption", url.Values{"text": {"Rex runs on the lawn"}}); code != http.StatusSeeOther {
		t.Fatalf("owner editing: %d", code)
	}
	_, page = p.anon.Get("/images/" + id)
	if strings.Contains(page, "Probably:") || !strings.Contains(page, `alt="Rex runs on the lawn"`) || strings.Contains(page, "probably right") {
		t.Errorf("the edited caption is still hedged:\n%s", page)
	}
	if m := getCaptionJSON(t, p.anon, id); m["confidence"] != nil || m["certainty"] != nil || m["edited"] != true {
		t.Errorf("json after the edit: %v", m)
	}
	code, frag, _ := p.owner.Form("/images/"+id+"/caption", url.Values{"text": {"Rex on the lawn"}}, "HX-Request", "true")
	if code != 200 || strings.Contains(frag, "Probably:") || !strings.Contains(frag, `alt="Rex on the lawn"`) {
		t.Errorf("htmx edit: %d %s", code, frag)
	}
	_, hist := p.owner.Get("/images/" + id + "/captions")
	if !strings.Contains(hist, "confidence 42%, probably right") || strings.Count(hist, "confidence ") != 1 {
		t.Errorf("history after the edits: the model's confidence once, none for people's:\n%s", hist)
	}

	// Restoring the model's version brings its confidence back.
	var first int64
	p.s.pool.QueryRow(context.Background(), `SELECT min(id) FROM caption_versions`).Scan(&first)
	if code, _, _ := p.owner.Form("/images/"+id+"/captions/"+itoaTest(first)+"/restore", nil); code != http.StatusSeeOther {
		t.Fatalf("restore: %d", code)
	}
	_, page = p.anon.Get("/images/" + id)
	hedged("image page after restore", page)
	if m := getCaptionJSON(t, p.anon, id); m["confidence"] != 0.42 || m["certainty"] != "probable" || m["edited"] != false {
		t.Errorf("json after restore: %v", m)
	}
}

// Sure captions, and those of models that measure nothing, are shown
// plainly; the history says when nothing was measured.
func TestSureAndUnmeasuredCaptionsArePlain(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	sure := 0.93
	p.s.captionedAs(t, p.public, db.Caption{Text: "two dogs play", Model: "captionai-flickr8k", Confidence: &sure, Certainty: vocab.Sure})
	p.s.captionedAs(t, p.unlisted, db.Caption{Text: "a man on a bike", Model: "tiny-random"})
	_, page := p.anon.Get("/images/" + p.public)
	if strings.Contains(page, "Probably:") || !strings.Contains(page, `alt="two dogs play"`) || !strings.Contains(page, "93%, sure") {
		t.Errorf("sure caption:\n%s", page)
	}
	if m := getCaptionJSON(t, p.anon, p.public); m["confidence"] != 0.93 || m["certainty"] != "sure" {
		t.Errorf("json: %v", m)
	}
	if m := getCaptionJSON(t, p.anon, p.unlisted); m["confidence"] != nil || m["certainty"] != nil {
		t.Errorf("unmeasured json: %v", m)
	}
	if _, hist := p.owner.Get("/images/" + p.unlisted + "/captions"); !strings.Contains(hist, "confidence not measured") {
		t.Error("the history does not say the confidence was not measured")
	}
}

// streamUntil reads the event stream at path until it has sent want, or
// for at most 5 s, and returns what it read.
func streamUntil(t *testing.T, v *testutil.Visitor, path, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", v.Base+path, nil)
	res, err := v.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got strings.Builder
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		got.WriteString(sc.Text() + "\n")
		if strings.Contains(got.String(), want) {
			break
		}
	}
	return got.String()
}
