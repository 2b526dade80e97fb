package app_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"captionai/config"
	"captionai/testutil"
	"captionai/vocab"
)

func visitor(t testing.TB, base string) *testutil.Visitor { return testutil.NewVisitor(t, base) }

// Every viewer against every visibility on every path, with exact codes.
func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})

	anon := visitor(t, s.URL)
	guest := visitor(t, s.URL)
	otherGuest := visitor(t, s.URL)
	owner := visitor(t, s.URL)
	other := visitor(t, s.URL)
	admin := visitor(t, s.URL)
	owner.Signup("owner@example.com", "owner password")
	other.Signup("other@example.com", "other password")
	admin.Signup("admin@example.com", "admin password")
	testutil.Grant(t, s.app.Store, "admin@example.com", "admin")
	admin.Login("admin@example.com", "admin password")
	if _, page := admin.Get("/admin"); !strings.Contains(page, "Nothing has been uploaded yet.") {
		t.Errorf("empty /admin does not say so:\n%s", page)
	}
	otherGuest.MustUpload("private") // now a guest with uploads of its own

	type img struct{ id, vis, owner string }
	var imgs []img
	for _, vis := range []string{"public", "unlisted", "private"} {
		imgs = append(imgs, img{owner.MustUpload(vis), vis, "owner"}, img{guest.MustUpload(vis), vis, "guest"})
	}
	// The public gallery lists captioned images only.
	waitFor(t, "every upload captioned", 60*time.Second, func() bool {
		var pending int
		s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM images WHERE status <> $1`, vocab.Captioned).Scan(&pending)
		return pending == 0
	})

	who := map[string]*testutil.Visitor{"anonymous": anon, "guest": guest, "other guest": otherGuest,
		"owner": owner, "other user": other, "admin": admin}
	for name, v := range who {
		adminCode, all := v.Get("/admin")
		if want := map[bool]int{true: 200, false: 404}[name == "admin"]; adminCode != want {
			t.Errorf("%s: /admin %d, want %d", name, adminCode, want)
		}
		_, gallery := v.Get("/")
		_, mine := v.Get("/me")
		for _, im := range imgs {
			sees := im.vis != "private" || name == im.owner || name == "admin"
			want := http.StatusNotFound
			if sees {
				want = http.StatusOK
			}
			cell := fmt.Sprintf("%s / %s %s image", name, im.vis, im.owner)
			if code, _ := v.Get("/images/" + im.id); code != want {
				t.Errorf("%s: page %d, want %d", cell, code, want)
			}
			if code, _ := v.Get("/images/"+im.id, "Accept", "application/json"); code != want {
				t.Errorf("%s: json %d, want %d", cell, code, want)
			}
			if code := v.StreamStatus("/images/" + im.id + "/events"); code != want {
				t.Errorf("%s: events %d, want %d", cell, code, want)
			}
			if code, _ := v.Get("/images/" + im.id + "/file"); code != want {
				t.Errorf("%s: file %d, want %d", cell, code, want)
			}
			if listed := strings.Contains(gallery, im.id); listed != (im.vis == "public") {
				t.Errorf("%s: in the public gallery = %v", cell, listed)
			}
			if listed := strings.Contains(mine, im.id); listed != (name == im.owner) {
				t.Errorf("%s: on /me = %v", cell, listed)
			}
			if listed := strings.Contains(all, im.id); listed != (name == "admin") {
				t.Errorf("%s: on /admin = %v", cell, listed)
			}
		}
	}

	// Only the owner or an admin changes visibility; others get 404 for a
	// private image and 403 for one they can see.
	priv, pub := imgs[4].id, imgs[0].id
	vals := url.Values{"visibility": {"public"}}
	if code, _, _ := other.Form("/images/"+priv+"/visibility", vals); code != http.StatusNotFound {
		t.Errorf("other user changing a private image: %d, want 404", code)
	}
	if code, _, _ := other.Form("/images/"+pub+"/visibility", url.Values{"visibility": {"private"}}); code != http.StatusForbidden {
		t.Errorf("other user changing a public image: %d, want 403", code)
	}
	if code, _, _ := owner.Form("/images/"+priv+"/visibility", vals); code != http.StatusSeeOther {
		t.Errorf("owner changing visibility: %d, want 303", code)
	}
	if code, _ := anon.Get("/images/" + priv); code != http.StatusOK {
		t.Errorf("after making it public, anonymous gets %d", code)
	}

	// Admins moderate: they may delete anyone's image.
	if code, _, _ := other.Form("/images/"+pub+"/delete", nil); code != http.StatusForbidden {
		t.Errorf("other user deleting: %d, want 403", code)
	}
	if code, _, h := admin.Form("/images/"+pub+"/delete", url.Values{"confirm": {"yes"}}); code != http.StatusSeeOther || h.Get("Location") != "/admin" {
		t.Errorf("admin deleting: %d %s", code, h.Get("Location"))
	}
	if code, _ := owner.Get("/images/" + pub); code != http.StatusNotFound {
		t.Errorf("deleted image still there: %d", code)
	}
}

// A guest's uploads move to the account on sign-up, and the old guest
// session no longer owns them.
func TestGuestClaimsUploadsOnSignup(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	g := visitor(t, s.URL)
	ids := []string{g.MustUpload("private"), g.MustUpload(""), g.MustUpload("public")}
	old := g.Cookie()

	g.Signup("claimer@example.com", "a long password")
	_, mine := g.Get("/me")
	for _, id := range ids {
		if !strings.Contains(mine, id) {
			t.Errorf("/me lacks %s after sign-up", id)
		}
	}
	var n int
	s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM images i JOIN users u ON u.id = i.user_id
		WHERE u.email = 'claimer@example.com' AND i.guest_id IS NULL`).Scan(&n)
	if n != 3 {
		t.Fatalf("%d images moved to the account, want 3", n)
	}

	// The pre-sign-up cookie is dead: it owns nothing and sees no private image.
	stale := visitor(t, s.URL)
	u, _ := url.Parse(s.URL)
	stale.Client.Jar.SetCookies(u, []*http.Cookie{{Name: "captionai_session", Value: old}})
	if code, _ := stale.Get("/images/" + ids[0]); code != http.StatusNotFound {
		t.Errorf("old guest session sees the private image: %d", code)
	}
	if code, _ := stale.Get("/me"); code != http.StatusSeeOther {
		t.Errorf("old guest session /me: %d, want 303 to sign in", code)
	}

	// Signing in (not up) claims too.
	g2 := visitor(t, s.URL)
	id := g2.MustUpload("private")
	if code, _, _ := g2.Form("/login", url.Values{"email": {"claimer@example.com"}, "password": {"a long password"}}); code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	if code, _ := g.Get("/images/" + id); code != http.StatusOK {
		t.Errorf("the account does not see the image claimed at sign-in: %d", code)
	}
}

func TestSignupAndLoginErrors(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	v := visitor(t, s.URL)
	for _, c := range []struct {
		email, password string
		code            int
		want            string
	}{
		{"not-an-email", "long enough", 422, "valid email address"},
		{"a@example.com", "short", 422, "at least 8 characters"},
	} {
		code, body, _ := v.Form("/signup", url.Values{"email": {c.email}, "password": {c.password}})
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("signup %q: %d, want %d with %q", c.email, code, c.code, c.want)
		}
	}
	v.Signup("a@example.com", "right password")

	// Five wrong passwords from one address delay that address, even for
	// the right password, and the page says so.
	x := visitor(t, s.URL)
	for i := range 5 {
		if code, _, _ := x.Form("/login", url.Values{"email": {"a@example.com"}, "password": {"wrong password"}}); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i, code)
		}
	}
	// Five more, so the delay owed (32 s) outlasts a slow test machine.
	s.app.Pool.Exec(context.Background(), `INSERT INTO login_failures (email, ip) SELECT 'a@example.com', '127.0.0.1' FROM generate_series(1, 5)`)
	code, body, _ := x.Form("/login", url.Values{"email": {"a@example.com"}, "password": {"right password"}})
	if code != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-ins") {
		t.Fatalf("after 5 failures: %d", code)
	}
}

// Changing the password keeps the session that changed it and signs out
// the account's other sessions; the new password works elsewhere.
func TestPasswordChangeSignsOutOtherSessions(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	here, there := visitor(t, s.URL), visitor(t, s.URL)
	here.Signup("pw@example.com", "first password")
	there.Login("pw@example.com", "first password")
	for _, v := range []*testutil.Visitor{here, there} {
		if code, _ := v.Get("/account"); code != http.StatusOK {
			t.Fatalf("signed in: /account %d", code)
		}
	}
	code, _, _ := here.Form("/account/password", url.Values{"current_password": {"first password"}, "password": {"second password"}})
	if code != http.StatusSeeOther {
		t.Fatalf("change password: %d", code)
	}
	if code, body := here.Get("/account"); code != http.StatusOK || !strings.Contains(body, "Other devices signed in to this account are signed out") {
		t.Errorf("the changing session: /account %d", code)
	}
	if code, _ := there.Get("/account"); code != http.StatusSeeOther {
		t.Errorf("the other session: /account %d, want 303 to the sign-in page", code)
	}
	if code, _, _ := there.Form("/login", url.Values{"email": {"pw@example.com"}, "password": {"second password"}}); code != http.StatusSeeOther {
		t.Errorf("login with the new password: %d", code)
	}
	if code, _ := there.Get("/account"); code != http.StatusOK {
		t.Errorf("signed in again: /account %d", code)
	}
}

func TestCrossOriginPostIsRefused(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	v := visitor(t, s.URL)
	if code, _ := v.Upload("", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Errorf("cross-origin upload: %d, want 403", code)
	}
	if code, _, _ := v.Form("/signup", url.Values{"email": {"x@example.com"}, "password": {"long enough"}},
		"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Errorf("cross-origin signup: %d, want 403", code)
	}
	if code, _ := v.Upload("", "Origin", s.URL, "Sec-Fetch-Site", "same-origin", "HX-Request", "true"); code != http.StatusCreated {
		t.Errorf("same-origin htmx upload: %d, want 201", code)
	}
}

func TestCaptionIsRenderedAsText(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	v := visitor(t, s.URL)
	id := v.MustUpload("public")
	events(t, s.URL+"/images/"+id+"/events", 30*time.Second)
	if _, err := s.app.Pool.Exec(context.Background(), `UPDATE images SET caption = '<script>alert(1)</script>' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/images/" + id, "/"} {
		_, body := v.Get(path)
		if strings.Contains(body, "<script>alert(1)") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not escape the caption", path)
		}
	}
}

func TestGuestUploadLimit(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both, tweak: func(c *config.Config) { c.GuestUploads = 2 }})
	g := visitor(t, s.URL)
	g.MustUpload("")
	g.MustUpload("")
	code, _ := g.Upload("")
	if code != http.StatusTooManyRequests {
		t.Fatalf("third guest upload: %d, want 429", code)
	}
	_, body, _ := func() (int, string, http.Header) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("image", "p.jpg")
		fw.Write(testutil.JPEG(t, 8, 8))
		mw.Close()
		req, _ := http.NewRequest("POST", s.URL+"/images", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return g.Do(req)
	}()
	if !strings.Contains(body, "Guests can upload 2 photos an hour") {
		t.Errorf("the limit is not explained")
	}
	u := visitor(t, s.URL)
	u.Signup("uploader@example.com", "long enough")
	for range 3 {
		u.MustUpload("")
	}
}

// Behind a trusted proxy the guest limit counts the forwarded client
// address; from any other peer the header is ignored.
func TestGuestUploadLimitBehindProxy(t *testing.T) {
	t.Parallel()
	proxied := start(t, opts{roles: both, tweak: func(c *config.Config) {
		c.GuestUploads = 1
		c.TrustedProxies = []net.IPNet{{IP: net.IPv4(127, 0, 0, 0), Mask: net.CIDRMask(8, 32)}}
	}})
	// The test's requests come from 127.0.0.1, which is not this app's proxy.
	direct := start(t, opts{roles: both, tweak: func(c *config.Config) {
		c.GuestUploads = 1
		c.TrustedProxies = []net.IPNet{{IP: net.IPv4(10, 0, 0, 0), Mask: net.CIDRMask(8, 32)}}
	}})
	upload := func(url, forwardedFor string) int {
		res := post(t, url, []file{{"p.jpg", testutil.JPEG(t, 8, 8)}}, map[string]string{"X-Forwarded-For": forwardedFor})
		return res.StatusCode
	}
	for _, c := range []struct {
		url, forwardedFor string
		want              int
	}{
		{proxied.URL, "203.0.113.5", http.StatusSeeOther},
		{proxied.URL, "203.0.113.5", http.StatusTooManyRequests},
		// The client wrote the left entry itself; the proxy appended the real one.
		{proxied.URL, "198.51.100.9, 203.0.113.5", http.StatusTooManyRequests},
		{proxied.URL, "203.0.113.6", http.StatusSeeOther},
		{direct.URL, "203.0.113.5", http.StatusSeeOther},
		{direct.URL, "203.0.113.6", http.StatusTooManyRequests},
	} {
		if got := upload(c.url, c.forwardedFor); got != c.want {
			t.Errorf("%s with X-Forwarded-For %q: %d, want %d", map[string]string{proxied.URL: "via proxy", direct.URL: "direct"}[c.url], c.forwardedFor, got, c.want)
		}
	}
	var ip string
	if err := proxied.app.Pool.QueryRow(context.Background(), "SELECT host(uploader_ip) FROM images ORDER BY created_at LIMIT 1").Scan(&ip); err != nil {
		t.Fatal(err)
	}
	if ip != "203.0.113.5" {
		t.Errorf("stored address %q, want the client's 203.0.113.5", ip)
	}
}

func TestDeleteAccountRemovesImagesAndFiles(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	u := visitor(t, s.URL)
	u.Signup("leaving@example.com", "long enough")
	id := u.MustUpload("public")
	events(t, s.URL+"/images/"+id+"/events", 30*time.Second)
	// The derive job the caption queued stores the display sizes.
	waitFor(t, "the original and its two display sizes stored", 30*time.Second, func() bool { return countFiles(t, s.MediaDir) == 3 })
	if code, body, _ := u.Form("/account/delete", url.Values{"confirm": {"delete"}}); code != 422 || !strings.Contains(body, "Nothing was deleted") {
		t.Fatalf("unconfirmed delete: %d", code)
	}
	if code, _, _ := u.Form("/account/delete", url.Values{"confirm": {"DELETE"}}); code != http.StatusSeeOther {
		t.Fatalf("delete: %d", code)
	}
	if n := countRows(t, s); n != 0 {
		t.Errorf("%d image rows left", n)
	}
	for i := 0; countFiles(t, s.MediaDir) != 0; i++ {
		if i == 100 {
			t.Fatal("the file was not deleted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _ := u.Get("/account"); code != http.StatusSeeOther {
		t.Errorf("deleted account still signed in: %d", code)
	}
}

// A 404 page still knows who is signed in.
func TestNotFoundPageKeepsTheSession(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	u := visitor(t, s.URL)
	u.Signup("lost@example.com", "long enough")
	code, body := u.Get("/no/such/page")
	if code != http.StatusNotFound || !strings.Contains(body, "Sign out") {
		t.Fatalf("%d; signed-in navigation missing", code)
	}
}
