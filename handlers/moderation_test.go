package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"captionai/db"
	"captionai/testutil"
	"captionai/vocab"
)

// staffPeople is newPeople plus a moderator.
func staffPeople(t *testing.T) (*people, *testutil.Visitor) {
	p := newPeople(t)
	mod := testutil.NewVisitor(t, p.s.URL)
	mod.Signup("mod@example.com", "mod password")
	testutil.Grant(t, db.New(p.s.pool), "mod@example.com", vocab.Moderator)
	mod.Login("mod@example.com", "mod password")
	return p, mod
}

// The whole path: an anonymous visitor reports a public image, it is in
// the review queue, a moderator hides it; then it is gone for everyone but
// its owner and staff, its owner cannot make it public, and the audit log
// has the action.
func TestReportReviewHide(t *testing.T) {
	t.Parallel()
	p, mod := staffPeople(t)
	id := p.public
	code, _, h := p.anon.Form("/images/"+id+"/report", url.Values{"reason": {"spam"}, "note": {"selling things"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/images/"+id {
		t.Fatalf("report: %d %s", code, h.Get("Location"))
	}
	// A second report by the same visitor while the first is open adds nothing.
	p.anon.Form("/images/"+id+"/report", url.Values{"reason": {"other"}})
	p.other.Form("/images/"+id+"/report", url.Values{"reason": {"sexual"}})
	code, queue := mod.Get("/admin/reports")
	if code != http.StatusOK || !strings.Contains(queue, id) || !strings.Contains(queue, "selling things") ||
		!strings.Contains(queue, "owner@example.com") || !strings.Contains(queue, `class="blur"`) {
		t.Fatalf("review queue: %d", code)
	}
	var open int
	p.s.pool.QueryRow(context.Background(), `SELECT count(*) FROM reports WHERE resolved_at IS NULL`).Scan(&open)
	if open != 2 {
		t.Errorf("%d open reports, want 2 (one per reporter)", open)
	}

	if code, _, _ := mod.Form("/admin/images/"+id+"/hide", url.Values{"reason": {"Spam."}}); code != http.StatusSeeOther {
		t.Fatalf("hide: %d", code)
	}
	for name, v := range map[string]*testutil.Visitor{"anonymous": p.anon, "other user": p.other} {
		for _, path := range []string{"", "/file"} {
			if code, _ := v.Get("/images/" + id + path); code != http.StatusNotFound {
				t.Errorf("%s: hidden image%s: %d, want 404", name, path, code)
			}
		}
		if code := v.StreamStatus("/images/" + id + "/events"); code != http.StatusNotFound {
			t.Errorf("%s: hidden image's events: %d, want 404", name, code)
		}
	}
	if _, home := p.anon.Get("/"); strings.Contains(home, id) {
		t.Error("a hidden image is in the public gallery")
	}
	code, page := p.owner.Get("/images/" + id)
	if code != http.StatusOK || !strings.Contains(page, "Hidden by a moderator: Spam.") {
		t.Errorf("owner's view: %d", code)
	}
	if code, body, _ := p.owner.Form("/images/"+id+"/visibility", url.Values{"visibility": {vocab.Public}}); code != http.StatusForbidden || !strings.Contains(body, "cannot be changed") {
		t.Errorf("owner making a hidden image public: %d", code)
	}
	_, audit := mod.Get("/admin/audit")
	if !strings.Contains(audit, "mod@example.com") || !strings.Contains(audit, ">hide<") || !strings.Contains(audit, "Spam.") {
		t.Error("the audit log lacks the hide")
	}
	p.s.pool.QueryRow(context.Background(), `SELECT count(*) FROM reports WHERE resolved_at IS NULL`).Scan(&open)
	if open != 0 {
		t.Errorf("%d reports still open after the hide", open)
	}
	if _, queue := mod.Get("/admin/reports"); strings.Contains(queue, id) {
		t.Error("the hidden image is still in the queue")
	}
	// Unhidden, everyone sees it again.
	mod.Form("/admin/images/"+id+"/unhide", nil)
	if code, _ := p.anon.Get("/images/" + id); code != http.StatusOK {
		t.Errorf("after unhide: %d", code)
	}
}

func TestReportsAreValidatedAndSwapInPlace(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	id := p.public
	if code, body, _ := p.anon.Form("/images/"+id+"/report", url.Values{"reason": {"boring"}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "Choose what is wrong") {
		t.Errorf("unknown reason: %d", code)
	}
	if code, _, _ := p.anon.Form("/images/"+id+"/report", url.Values{"reason": {"other"}, "note": {strings.Repeat("x", 1001)}}); code != http.StatusUnprocessableEntity {
		t.Errorf("long note: %d", code)
	}
	code, body, _ := p.anon.Form("/images/"+id+"/report", url.Values{"reason": {"caption"}}, "HX-Request", "true")
	if code != http.StatusOK || strings.Contains(body, "<html") || !strings.Contains(body, "Thank you") || !strings.Contains(body, `id="report"`) {
		t.Errorf("htmx report: %d %s", code, body)
	}
	if code, _, _ := p.anon.Form("/images/"+p.private_+"/report", url.Values{"reason": {"spam"}}); code != http.StatusNotFound {
		t.Errorf("reporting an image one cannot see: %d", code)
	}
	if _, page := p.anon.Get("/images/" + id); !strings.Contains(page, "Report this photo") {
		t.Error("the image page has no report form")
	}
	if _, page := p.owner.Get("/images/" + id); strings.Contains(page, "Report this photo") {
		t.Error("the owner is offered to report their own photo")
	}
}

func TestModerationPagesAreForStaff(t *testing.T) {
	t.Parallel()
	p, mod := staffPeople(t)
	for _, path := range []string{"/admin", "/admin/reports", "/admin/users", "/admin/audit"} {
		for name, v := range map[string]*testutil.Visitor{"anonymous": p.anon, "user": p.other} {
			if code, _ := v.Get(path); code != http.StatusNotFound {
				t.Errorf("%s: %s %d, want 404", name, path, code)
			}
		}
		for name, v := range map[string]*testutil.Visitor{"moderator": mod, "admin": p.admin} {
			if code, _ := v.Get(path); code != http.StatusOK {
				t.Errorf("%s: %s %d, want 200", name, path, code)
			}
		}
	}
	for _, path := range []string{"/admin/images/" + p.public + "/hide", "/admin/images/" + p.public + "/delete"} {
		if code, _, _ := p.other.Form(path, url.Values{"reason": {"x"}}); code != http.StatusNotFound {
			t.Errorf("user POST %s: %d, want 404", path, code)
		}
	}
	// Moderators do not see private images, and cannot change roles.
	if _, all := mod.Get("/admin"); strings.Contains(all, p.private_) || !strings.Contains(all, p.public) {
		t.Error("the moderator's image list is wrong")
	}
	u, _ := db.New(p.s.pool).UserByEmail(context.Background(), "other@example.com")
	if code, _, _ := mod.Form("/admin/users/"+u.ID.String()+"/role", url.Values{"role": {vocab.Moderator}}); code != http.StatusNotFound {
		t.Errorf("moderator changing a role: %d, want 404", code)
	}
}

// A ban ends the account's sessions, refuses its sign-in with the reason,
// and hides its public images; an unban shows them again.
func TestBanEndsSessionsAndHidesPublicImages(t *testing.T) {
	t.Parallel()
	p, mod := staffPeople(t)
	u, _ := db.New(p.s.pool).UserByEmail(context.Background(), "owner@example.com")
	uid := u.ID.String()
	if code, _, _ := mod.Form("/admin/users/"+uid+"/ban", nil); code != http.StatusUnprocessableEntity {
		t.Errorf("ban without a reason: %d", code)
	}
	if code, _, _ := mod.Form("/admin/users/"+uid+"/ban", url.Values{"reason": {"Spam account."}}); code != http.StatusSeeOther {
		t.Fatalf("ban: %d", code)
	}
	if code, _ := p.owner.Get("/account"); code != http.StatusSeeOther {
		t.Errorf("the banned account's session lives on: %d", code)
	}
	code, body, _ := p.owner.Form("/login", url.Values{"email": {"owner@example.com"}, "password": {"owner password"}})
	if code != http.StatusForbidden || !strings.Contains(body, "banned: Spam account.") {
		t.Errorf("banned sign-in: %d", code)
	}
	if code, _ := p.anon.Get("/images/" + p.public); code != http.StatusNotFound {
		t.Errorf("the banned account's public image: %d, want 404", code)
	}
	if code, _ := p.anon.Get("/images/" + p.unlisted); code != http.StatusOK {
		t.Errorf("the ban hid an unlisted image too: %d", code)
	}
	if _, users := mod.Get("/admin/users?q=owner"); !strings.Contains(users, "Banned") || strings.Contains(users, "other@example.com") {
		t.Error("the users page search or ban status is wrong")
	}
	if code, _, _ := mod.Form("/admin/users/"+uid+"/unban", nil); code != http.StatusSeeOther {
		t.Fatalf("unban: %d", code)
	}
	p.owner.Login("owner@example.com", "owner password")
	if code, _ := p.anon.Get("/images/" + p.public); code != http.StatusOK {
		t.Errorf("after the unban: %d", code)
	}
	_, audit := p.admin.Get("/admin/audit?target=owner@example.com")
	if !strings.Contains(audit, ">ban<") || !strings.Contains(audit, ">unban<") {
		t.Error("the audit log lacks the ban and unban")
	}
	// Moderators cannot ban admins.
	a, _ := db.New(p.s.pool).UserByEmail(context.Background(), "admin@example.com")
	if code, _, _ := mod.Form("/admin/users/"+a.ID.String()+"/ban", url.Values{"reason": {"x"}}); code != http.StatusForbidden {
		t.Errorf("moderator banning an admin: %d", code)
	}
}

func TestQueueActionsFixDismissDeleteAndBulk(t *testing.T) {
	t.Parallel()
	p, mod := staffPeople(t)
	for _, id := range []string{p.public, p.unlisted} {
		p.anon.Form("/images/"+id+"/report", url.Values{"reason": {"caption"}})
	}
	if code, _, _ := mod.Form("/admin/images/"+p.public+"/caption", url.Values{"text": {"a fixed caption"}}); code != http.StatusSeeOther {
		t.Fatalf("fix caption: %d", code)
	}
	if _, page := p.anon.Get("/images/" + p.public); !strings.Contains(page, "a fixed caption") {
		t.Error("the fixed caption is not shown")
	}
	if code, _, _ := mod.Form("/admin/images/"+p.unlisted+"/dismiss", nil); code != http.StatusSeeOther {
		t.Fatalf("dismiss: %d", code)
	}
	if _, queue := mod.Get("/admin/reports"); strings.Contains(queue, p.public) || strings.Contains(queue, p.unlisted) {
		t.Error("resolved images are still in the queue")
	}
	if code, _, _ := mod.Form("/admin/images/bulk", url.Values{"action": {vocab.ActHide}, "id": {p.public, p.unlisted}}); code != http.StatusUnprocessableEntity {
		t.Errorf("bulk hide without a reason: %d", code)
	}
	if code, _, _ := mod.Form("/admin/images/bulk", url.Values{"action": {vocab.ActHide}, "reason": {"Cleanup."}, "id": {p.public, p.unlisted}}); code != http.StatusSeeOther {
		t.Fatalf("bulk hide: %d", code)
	}
	for _, id := range []string{p.public, p.unlisted} {
		if code, _ := p.anon.Get("/images/" + id); code != http.StatusNotFound {
			t.Errorf("bulk-hidden %s: %d", id, code)
		}
	}
	if _, list := mod.Get("/admin?moderation=hidden"); !strings.Contains(list, p.public) || !strings.Contains(list, p.unlisted) {
		t.Error("the hidden filter misses them")
	}
	if code, _, _ := mod.Form("/admin/images/bulk", url.Values{"action": {vocab.ActDelete}, "id": {p.public}}); code != http.StatusSeeOther {
		t.Fatalf("bulk delete: %d", code)
	}
	if code, _ := p.owner.Get("/images/" + p.public); code != http.StatusNotFound {
		t.Errorf("bulk-deleted image: %d", code)
	}
	if code, _, _ := mod.Form("/admin/images/"+p.unlisted+"/delete", url.Values{"reason": {"gone"}}); code != http.StatusSeeOther {
		t.Errorf("delete from the queue: %d", code)
	}
	var deletions int
	p.s.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'delete_files'`).Scan(&deletions)
	if deletions != 2 {
		t.Errorf("%d file deletion jobs, want 2", deletions)
	}
}
