package handlers

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"captionai/db"
	"captionai/testutil"
	"captionai/vocab"
)

// people is a server with an owner (who uploaded one image of each
// visibility), another account, an admin, and an anonymous visitor.
type people struct {
	s                          *testServer
	owner, other, admin, anon  *testutil.Visitor
	public, unlisted, private_ string
}

func newPeople(t *testing.T) *people {
	s := newTestServer(t)
	p := &people{s: s, owner: testutil.NewVisitor(t, s.URL), other: testutil.NewVisitor(t, s.URL),
		admin: testutil.NewVisitor(t, s.URL), anon: testutil.NewVisitor(t, s.URL)}
	p.owner.Signup("owner@example.com", "owner password")
	p.other.Signup("other@example.com", "other password")
	p.admin.Signup("admin@example.com", "admin password")
	testutil.Grant(t, db.New(s.pool), "admin@example.com", vocab.Admin)
	p.admin.Login("admin@example.com", "admin password")
	p.public, p.unlisted, p.private_ = p.owner.MustUpload(vocab.Public), p.owner.MustUpload(vocab.Unlisted), p.owner.MustUpload(vocab.Private)
	return p
}

func TestPrivateImageAnswers404ToOthers(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	for name, v := range map[string]*testutil.Visitor{"anonymous": p.anon, "other user": p.other} {
		for _, path := range []string{"", "/file", "?format=json"} {
			if code, _ := v.Get("/images/" + p.private_ + path); code != http.StatusNotFound {
				t.Errorf("%s: private image%s: %d, want 404", name, path, code)
			}
		}
		if code := v.StreamStatus("/images/" + p.private_ + "/events"); code != http.StatusNotFound {
			t.Errorf("%s: private image's events: %d, want 404", name, code)
		}
	}
	for name, v := range map[string]*testutil.Visitor{"owner": p.owner, "admin": p.admin} {
		if code, _ := v.Get("/images/" + p.private_ + "/file"); code != http.StatusOK {
			t.Errorf("%s: private file %d, want 200", name, code)
		}
	}
}

func TestUnlistedIsOpenByLinkButNotListed(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	if code, _ := p.anon.Get("/images/" + p.unlisted); code != http.StatusOK {
		t.Errorf("unlisted by link: %d", code)
	}
	_, queued := p.anon.Get("/")
	if strings.Contains(queued, p.public) {
		t.Error("an image not captioned yet (the NSFW check has not run) is in the public gallery")
	}
	p.s.captionAll(t)
	_, home := p.anon.Get("/")
	if strings.Contains(home, p.unlisted) || strings.Contains(home, p.private_) || !strings.Contains(home, p.public) {
		t.Error("the public gallery lists the wrong images")
	}
	if _, frag := p.anon.Get("/fragments/gallery"); !strings.Contains(frag, p.public) || strings.Contains(frag, "<html") {
		t.Error("the gallery fragment is not the gallery alone")
	}
}

func TestOnlyOwnerOrAdminChangesVisibility(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	to := func(vis string) url.Values { return url.Values{"visibility": {vis}} }
	if code, _, _ := p.other.Form("/images/"+p.public+"/visibility", to(vocab.Private)); code != http.StatusForbidden {
		t.Errorf("other user, visible image: %d, want 403", code)
	}
	if code, _, _ := p.other.Form("/images/"+p.private_+"/visibility", to(vocab.Public)); code != http.StatusNotFound {
		t.Errorf("other user, private image: %d, want 404", code)
	}
	if code, _, _ := p.anon.Form("/images/"+p.public+"/visibility", to(vocab.Private)); code != http.StatusForbidden {
		t.Errorf("anonymous: %d, want 403", code)
	}
	if code, body, _ := p.owner.Form("/images/"+p.public+"/visibility", to("everyone")); code != http.StatusUnprocessableEntity || !strings.Contains(body, "public, unlisted or private") {
		t.Errorf("unknown visibility: %d", code)
	}
	if code, _, _ := p.owner.Form("/images/"+p.private_+"/visibility", to(vocab.Public)); code != http.StatusSeeOther {
		t.Errorf("owner: %d, want 303", code)
	}
	if code, _ := p.anon.Get("/images/" + p.private_); code != http.StatusOK {
		t.Errorf("made public, anonymous gets %d", code)
	}
	if code, _, _ := p.admin.Form("/images/"+p.public+"/visibility", to(vocab.Private)); code != http.StatusSeeOther {
		t.Errorf("admin: %d, want 303", code)
	}
	if code, _ := p.anon.Get("/images/" + p.public); code != http.StatusNotFound {
		t.Errorf("made private by the admin, anonymous gets %d", code)
	}
}

func TestDeleteAsksFirstAndOnlyForTheOwner(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	if code, _, _ := p.other.Form("/images/"+p.public+"/delete", url.Values{"confirm": {"yes"}}); code != http.StatusForbidden {
		t.Errorf("other user: %d, want 403", code)
	}
	if code, page, _ := p.owner.Form("/images/"+p.public+"/delete", nil); code != http.StatusOK || !strings.Contains(page, "Delete this photo?") {
		t.Errorf("without confirm: %d", code)
	}
	if code, _, h := p.owner.Form("/images/"+p.public+"/delete", url.Values{"confirm": {"yes"}}, "HX-Request", "true"); code != http.StatusOK || h.Get("HX-Redirect") != "/me" {
		t.Errorf("htmx delete: %d %q", code, h.Get("HX-Redirect"))
	}
	if code, _ := p.owner.Get("/images/" + p.public); code != http.StatusNotFound {
		t.Errorf("deleted image: %d", code)
	}
	var jobs int
	p.s.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'delete_files'`).Scan(&jobs)
	if jobs != 1 {
		t.Errorf("%d file deletion jobs, want 1", jobs)
	}
	if code, _, h := p.admin.Form("/images/"+p.unlisted+"/delete", url.Values{"confirm": {"yes"}}); code != http.StatusSeeOther || h.Get("Location") != "/admin" {
		t.Errorf("admin delete: %d %s", code, h.Get("Location"))
	}
}

func TestAdminPagesAreHiddenFromOthers(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	for _, path := range []string{"/admin", "/admin/users"} {
		for name, v := range map[string]*testutil.Visitor{"anonymous": p.anon, "user": p.other} {
			if code, _ := v.Get(path); code != http.StatusNotFound {
				t.Errorf("%s: %s %d, want 404", name, path, code)
			}
		}
		if code, _ := p.admin.Get(path); code != http.StatusOK {
			t.Errorf("admin: %s %d", path, code)
		}
	}
	if _, all := p.admin.Get("/admin"); !strings.Contains(all, p.private_) {
		t.Error("/admin lacks the private image")
	}
}

func TestMeListsOnlyOwnUploads(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	_, mine := p.owner.Get("/me")
	_, theirs := p.other.Get("/me")
	for _, id := range []string{p.public, p.unlisted, p.private_} {
		if !strings.Contains(mine, id) || strings.Contains(theirs, id) {
			t.Errorf("/me and %s", id)
		}
	}
	if code, _ := p.anon.Get("/me"); code != http.StatusSeeOther {
		t.Errorf("anonymous /me: %d, want 303 to sign in", code)
	}
	if code := p.anon.StreamStatus("/me/events"); code != http.StatusNotFound {
		t.Errorf("anonymous /me/events: %d", code)
	}
}

func TestBatchShowsOnlyWhatTheViewerSees(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	guest := testutil.NewVisitor(t, s.URL)
	jpg := string(testutil.JPEG(t, 8, 8))
	_, _, h := guest.Do(uploadReq(t, s.URL, [][2]string{{"a.jpg", jpg}, {"b.jpg", jpg}}, map[string]string{"visibility": vocab.Private}))
	batch := h.Get("Location")
	if code, _ := guest.Get(batch); code != http.StatusOK {
		t.Fatalf("own batch: %d", code)
	}
	if code, _ := testutil.NewVisitor(t, s.URL).Get(batch); code != http.StatusNotFound {
		t.Errorf("someone else's private batch: %d, want 404", code)
	}
}

// The images of one upload share their creation time; /me's pages still
// hold each exactly once (they page by time and id).
func TestMePagesHoldEveryImageOnce(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	jpg := string(testutil.JPEG(t, 8, 8))
	var files [][2]string
	for i := range 15 {
		files = append(files, [2]string{fmt.Sprintf("%d.jpg", i), jpg})
	}
	for range 2 { // 30 images in two uploads; a page holds 24
		if code, _, _ := v.Do(uploadReq(t, s.URL, files, nil)); code != http.StatusSeeOther {
			t.Fatalf("upload: %d", code)
		}
	}
	seen := map[string]int{}
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`)
	card := regexp.MustCompile(`<article class="card[^"]*"[^>]*>\s*<a href="/images/([0-9a-f-]{36})"`)
	for path, pages := "/me", 0; path != ""; pages++ {
		if pages > 3 {
			t.Fatal("too many pages")
		}
		_, body := v.Get(path)
		for _, m := range card.FindAllStringSubmatch(body, -1) {
			seen[m[1]]++
		}
		path = ""
		if m := next.FindStringSubmatch(body); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	if len(seen) != 30 {
		t.Errorf("%d distinct images over the pages, want 30", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s shown %d times", id, n)
		}
	}
}
