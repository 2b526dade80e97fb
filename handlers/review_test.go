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

// A password change or reset revokes the account's API tokens: whoever
// had the old password (say, a stranger who signed up with the owner's
// address) may have made them.
func TestPasswordChangeRevokesAPITokens(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	v.Signup("me@example.com", "first password")
	_, token := newAPIToken(t, v, "old")
	api := apiClient{t, s.URL, token}
	if a := api.get("/api/images"); a.code != http.StatusOK {
		t.Fatalf("token before: %d", a.code)
	}
	if code, _, _ := v.Form("/account/password", url.Values{"current_password": {"first password"}, "password": {"second password"}}); code != http.StatusSeeOther {
		t.Fatalf("change: %d", code)
	}
	if a := api.get("/api/images"); a.code != http.StatusUnauthorized {
		t.Errorf("token after a password change: %d, want 401", a.code)
	}
	// A reset too.
	_, token = newAPIToken(t, v, "new")
	u, _ := db.New(s.pool).UserByEmail(context.Background(), "me@example.com")
	reset, err := db.New(s.pool).CreateToken(context.Background(), u.ID, db.TokenReset, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.pool.Exec(context.Background(), `UPDATE account_tokens SET expires_at = now() + interval '1 hour'`)
	if code, _, _ := testutil.NewVisitor(t, s.URL).Form("/reset", url.Values{"token": {reset}, "password": {"third password"}}); code != http.StatusSeeOther {
		t.Fatalf("reset: %d", code)
	}
	if a := (apiClient{t, s.URL, token}).get("/api/images"); a.code != http.StatusUnauthorized {
		t.Errorf("token after a reset: %d, want 401", a.code)
	}
}

// A token acts as a plain user: an admin's token cannot read someone
// else's private image.
func TestTokensHaveNoStaffPowers(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	_, token := newAPIToken(t, p.admin, "admin script")
	if a := (apiClient{t, p.s.URL, token}).get("/api/images/" + p.private_); a.code != http.StatusNotFound {
		t.Errorf("admin token on another's private image: %d, want 404", a.code)
	}
}

// Moderators do not see private images, held or hidden ones included;
// admins do.
func TestModeratorsDoNotSeePrivateHeldImages(t *testing.T) {
	t.Parallel()
	p, mod := staffPeople(t)
	p.s.pool.Exec(context.Background(), `UPDATE images SET moderation = 'held', moderation_reason = 'flagged' WHERE id = $1::uuid`, p.private_)
	for _, path := range []string{"/images/" + p.private_, "/images/" + p.private_ + "/file"} {
		if code, _ := mod.Get(path); code != http.StatusNotFound {
			t.Errorf("moderator: %s %d, want 404", path, code)
		}
		if code, _ := p.admin.Get(path); code != http.StatusOK {
			t.Errorf("admin: %s %d, want 200", path, code)
		}
	}
	for _, path := range []string{"/admin/reports", "/admin?moderation=held"} {
		if _, page := mod.Get(path); containsID(page, p.private_) {
			t.Errorf("moderator's %s lists the private image", path)
		}
		if _, page := p.admin.Get(path); !containsID(page, p.private_) {
			t.Errorf("admin's %s lacks the held private image", path)
		}
	}
}

func containsID(page, id string) bool { return id != "" && strings.Contains(page, id) }

// An admin changing or deleting someone else's image is on the record; a
// caption fix records no old caption (moderators may not see it).
func TestAdminActionsOnOthersImagesAreAudited(t *testing.T) {
	t.Parallel()
	p, mod := staffPeople(t)
	p.admin.Form("/images/"+p.public+"/visibility", url.Values{"visibility": {vocab.Unlisted}})
	p.admin.Form("/images/"+p.unlisted+"/delete", url.Values{"confirm": {"yes"}})
	p.s.captioned(t, p.public, "the old caption")
	mod.Form("/admin/images/"+p.public+"/caption", url.Values{"text": {"a new caption"}})
	var visibility, deletes, fixes int
	var reason string
	p.s.pool.QueryRow(context.Background(), `SELECT
		count(*) FILTER (WHERE action = 'set visibility'), count(*) FILTER (WHERE action = 'delete'),
		count(*) FILTER (WHERE action = 'fix caption'), coalesce(max(reason) FILTER (WHERE action = 'fix caption'), '')
		FROM audit_log`).Scan(&visibility, &deletes, &fixes, &reason)
	if visibility != 1 || deletes != 1 || fixes != 1 || reason != "" {
		t.Errorf("audit: %d visibility, %d delete, %d fix (reason %q)", visibility, deletes, fixes, reason)
	}
}

func TestModeratorsCannotUnbanStaff(t *testing.T) {
	t.Parallel()
	p, mod := staffPeople(t)
	a, _ := db.New(p.s.pool).UserByEmail(context.Background(), "admin@example.com")
	p.s.pool.Exec(context.Background(), `UPDATE users SET banned_at = now(), ban_reason = 'test' WHERE id = $1`, a.ID)
	if code, _, _ := mod.Form("/admin/users/"+a.ID.String()+"/unban", nil); code != http.StatusForbidden {
		t.Errorf("moderator unbanning an admin: %d, want 403", code)
	}
}
