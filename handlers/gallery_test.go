package handlers

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"captionai/testutil"
	"captionai/views"
	"captionai/vocab"
)

// tiles are the image ids of a gallery page's photo tiles, in order.
func tiles(page string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`<a class="tile-photo" href="/images/([0-9a-f-]+)"`).FindAllStringSubmatch(page, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func title(page string) string {
	m := regexp.MustCompile(`<title>([^<]*)</title>`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}

// /gallery is a grid of the public photos, each with its uploader's name
// ("guest" for a guest, "member" for an account that chose none, never an
// email address) and date; boxes of fixed size; searched by caption.
func TestGalleryPage(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	guest := testutil.NewVisitor(t, p.s.URL)
	guestImg := guest.MustUpload(vocab.Public)
	p.s.captioned(t, p.public, "a dog runs along the beach")
	p.s.captioned(t, guestImg, "a red bike leans on a wall")
	p.s.captionAll(t)

	code, page := p.anon.Get("/gallery")
	if code != http.StatusOK || title(page) != "Gallery · CaptionAI" || !strings.Contains(page, `class="photo-grid"`) {
		t.Fatalf("/gallery: %d, title %q", code, title(page))
	}
	if got := tiles(page); len(got) != 2 || got[0] != guestImg || got[1] != p.public {
		t.Errorf("tiles %v, want the guest's then the owner's public photo, newest first", got)
	}
	for _, want := range []string{`<span class="uploader">guest</span>`, `<span class="uploader">member</span>`,
		`width="24"`, `height="24"`, `<time datetime="`, `loading="lazy"`, `alt="a dog runs along the beach"`} {
		if !strings.Contains(page, want) {
			t.Errorf("/gallery lacks %s", want)
		}
	}
	if strings.Contains(page, "owner@example.com") || strings.Contains(page, "owner@") {
		t.Error("/gallery shows an email address")
	}

	// A display name, trimmed, its spaces squeezed, shown escaped.
	if code, _, hdr := p.owner.Form("/account/name", url.Values{"display_name": {"  Ana   <b>Lima</b> "}}); code != http.StatusSeeOther || hdr.Get("Location") != "/account" {
		t.Fatalf("saving a display name: %d", code)
	}
	if _, account := p.owner.Get("/account"); !strings.Contains(account, `value="Ana &lt;b&gt;Lima&lt;/b&gt;"`) {
		t.Error("the account page does not show the saved name")
	}
	_, page = p.anon.Get("/gallery")
	if !strings.Contains(page, `<span class="uploader">Ana &lt;b&gt;Lima&lt;/b&gt;</span>`) || strings.Contains(page, "<b>Lima") {
		t.Error("the display name is not shown, or not escaped")
	}
	for _, bad := range []string{strings.Repeat("é", 41), "Guest", "MEMBER", "bell\a", "evil\u202egnp"} {
		code, body, _ := p.owner.Form("/account/name", url.Values{"display_name": {bad}})
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, `role="alert"`) {
			t.Errorf("display name %q: %d, want 422 with a message", bad, code)
		}
	}
	if code, _, _ := p.owner.Form("/account/name", url.Values{"display_name": {strings.Repeat("é", 40)}}); code != http.StatusSeeOther {
		t.Errorf("a 40-character name: %d", code)
	}
	if code, _, _ := p.owner.Form("/account/name", url.Values{"display_name": {"   "}}); code != http.StatusSeeOther {
		t.Errorf("clearing the name: %d", code)
	}
	if _, page = p.anon.Get("/gallery"); !strings.Contains(page, `<span class="uploader">member</span>`) {
		t.Error("a cleared name does not show as member")
	}
	if code, _, _ := p.anon.Form("/account/name", url.Values{"display_name": {"x"}}); code != http.StatusSeeOther {
		t.Errorf("anonymous: %d, want 303 to sign in", code)
	}

	// Search.
	code, page = p.anon.Get("/gallery?q=dogs")
	if got := tiles(page); code != 200 || len(got) != 1 || got[0] != p.public {
		t.Errorf("q=dogs: %d, tiles %v", code, got)
	}
	if title(page) != "Search: dogs · CaptionAI" || !strings.Contains(page, `value="dogs"`) || !strings.Contains(page, `href="/gallery">Show all`) {
		t.Errorf("q=dogs: title %q, or no query kept, or no way back", title(page))
	}
	if _, page = p.anon.Get("/gallery?q=zebra"); len(tiles(page)) != 0 || !strings.Contains(page, "No public photo") {
		t.Error("q=zebra: not an empty result")
	}
	// The home page's old search and page links lead here.
	code, _, hdr := p.anon.Do(mustRequest(t, "GET", p.s.URL+"/?q=dog&cursor=x"))
	if code != http.StatusMovedPermanently || hdr.Get("Location") != "/gallery?q=dog&cursor=x" {
		t.Errorf("/?q=: %d to %q", code, hdr.Get("Location"))
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// The gallery pages by the keyset cursor, 24 photos a page; page 2 says so
// in its title and links back to the newest.
func TestGalleryPages(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	first := v.MustUpload(vocab.Public)
	s.captionAll(t)
	// 29 more public photos, a minute apart and older than the first.
	if _, err := s.pool.Exec(context.Background(), `INSERT INTO images (id, batch_id, status, storage_key, content_type,
			original_name, size_bytes, width, height, guest_id, visibility, moderation, caption, created_at)
		SELECT gen_random_uuid(), batch_id, status, storage_key, content_type, 'copy.jpg', size_bytes, width, height,
			guest_id, visibility, moderation, 'photo number ' || g, created_at - g * interval '1 minute'
		FROM images, generate_series(1, 29) g WHERE id = $1`, first); err != nil {
		t.Fatal(err)
	}
	_, page := v.Get("/gallery")
	one := tiles(page)
	next := regexp.MustCompile(`href="(/gallery\?[^"]+)" rel="next"`).FindStringSubmatch(page)
	if len(one) != 24 || one[0] != first || next == nil {
		t.Fatalf("page 1: %d tiles, next link %v", len(one), next)
	}
	link := strings.ReplaceAll(next[1], "&amp;", "&")
	if !strings.Contains(link, "cursor=") || !strings.Contains(link, "page=2") {
		t.Errorf("next link %s", link)
	}
	_, page = v.Get(link)
	two := tiles(page)
	if len(two) != 6 || title(page) != "Gallery, page 2 · CaptionAI" || !strings.Contains(page, `href="/gallery">Newest`) {
		t.Errorf("page 2: %d tiles, title %q", len(two), title(page))
	}
	seen := map[string]bool{}
	for _, id := range append(one, two...) {
		if seen[id] {
			t.Errorf("%s on both pages", id)
		}
		seen[id] = true
	}
	if strings.Contains(page, `rel="next"`) {
		t.Error("the last page links to a next one")
	}
	// A search's pages keep the query in the title.
	_, page = v.Get("/gallery?q=photo")
	if next := regexp.MustCompile(`href="(/gallery\?[^"]+)" rel="next"`).FindStringSubmatch(page); next == nil {
		t.Error("a search with 29 results has no second page")
	} else if _, page = v.Get(strings.ReplaceAll(next[1], "&amp;", "&")); title(page) != "Search: photo, page 2 · CaptionAI" {
		t.Errorf("search page 2 title %q", title(page))
	}
	// The home page shows the latest few and links to the gallery.
	_, home := v.Get("/")
	if n := len(tiles(home)); n != latestPhotos || !strings.Contains(home, `href="/gallery"`) || title(home) != "Caption your photos · CaptionAI" {
		t.Errorf("home: %d tiles, title %q", n, title(home))
	}
	if _, frag := v.Get("/fragments/gallery"); len(tiles(frag)) != latestPhotos || strings.Contains(frag, "<html") {
		t.Error("the home page's fragment is not its latest photos alone")
	}
}

// An image page of the public gallery links the newer photo as previous
// and the older as next, skipping what the gallery does not list.
func TestImagePagePreviousNext(t *testing.T) {
	t.Parallel()
	p := newPeople(t) // public, unlisted, private, in that order
	middle := p.owner.MustUpload(vocab.Public)
	newest := p.owner.MustUpload(vocab.Public)
	p.s.captionAll(t)

	_, page := p.anon.Get("/images/" + middle)
	if !strings.Contains(page, `href="/images/`+newest+`" rel="prev"`) || !strings.Contains(page, `href="/images/`+p.public+`" rel="next"`) {
		t.Errorf("middle photo: no previous (newer) and next (older) links")
	}
	_, page = p.anon.Get("/images/" + newest)
	if strings.Contains(page, `rel="prev"`) || !strings.Contains(page, `href="/images/`+middle+`" rel="next"`) {
		t.Errorf("newest photo: links wrong")
	}
	_, page = p.anon.Get("/images/" + p.public)
	if !strings.Contains(page, `href="/images/`+middle+`" rel="prev"`) || strings.Contains(page, `rel="next"`) {
		t.Errorf("oldest photo: links wrong")
	}
	if !strings.Contains(page, `Uploaded by <span class="uploader">member</span>`) {
		t.Error("the image page does not name the uploader")
	}
	// An unlisted photo is in no sequence.
	if _, page = p.anon.Get("/images/" + p.unlisted); strings.Contains(page, `class="photo-nav"`) {
		t.Error("an unlisted photo has gallery links")
	}
}

// /terms and /privacy name the operator and say where photos go, as the
// configuration has it; the footer links both.
func TestTermsAndPrivacy(t *testing.T) {
	s := newTestServer(t)
	s.h.Site = views.Site{Operator: "Example Photo Club", Contact: "privacy@example.org", GuestDays: 7, SessionDays: 30}
	v := testutil.NewVisitor(t, s.URL)
	for _, path := range []string{"/terms", "/privacy"} {
		code, page := v.Get(path)
		if code != 200 || !strings.Contains(page, "<strong>Example Photo Club</strong>") ||
			!strings.Contains(page, `href="mailto:privacy@example.org"`) {
			t.Errorf("%s: %d, no operator or contact", path, code)
		}
	}
	_, privacy := v.Get("/privacy")
	for _, want := range []string{"No photo leaves this server", "7 days", "30 days", "24 hours", "IP", "email address",
		"moderation log", "metadata is removed"} {
		if !strings.Contains(privacy, want) {
			t.Errorf("/privacy does not say %q", want)
		}
	}
	_, home := v.Get("/")
	if !strings.Contains(home, `href="/terms"`) || !strings.Contains(home, `href="/privacy"`) || !strings.Contains(home, "no photo leaves it") {
		t.Error("the footer does not link the terms and privacy pages")
	}

	s.h.Site = views.Site{Operator: "Example Photo Club", EngineKind: "ollama", EngineHost: "gpu.example:11434"}
	_, privacy = v.Get("/privacy")
	if strings.Contains(privacy, "No photo leaves") || !strings.Contains(privacy, "sent to a captioning engine at gpu.example:11434") ||
		!strings.Contains(privacy, "no contact address") {
		t.Error("/privacy with a remote engine and no contact")
	}
	if _, home = v.Get("/"); strings.Contains(home, "no photo leaves it") || !strings.Contains(home, "gpu.example:11434") {
		t.Error("the footer still says no photo leaves the server")
	}
}
