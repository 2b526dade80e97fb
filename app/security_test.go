package app_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"captionai/app"
	"captionai/config"
	"captionai/testutil"
)

var webOnly = app.Roles{Web: true}

var verifyRE = regexp.MustCompile(`/verify\?token=([A-Za-z0-9_-]+)`)

// Signing up with an address on ADMIN_EMAILS grants nothing until the
// address is verified, and verifying takes the mailbox and the password:
// a stranger who signed up with someone else's address never gets the role.
func TestAdminEmailsNeedAVerifiedAddress(t *testing.T) {
	t.Parallel()
	box := startMailbox(t)
	s := start(t, opts{roles: both, tweak: func(c *config.Config) {
		c.SMTPURL = "smtp://" + box.addr
		c.AdminEmails = []string{"admin@example.com", "ops@example.com"}
	}})
	owner := visitor(t, s.URL)
	owner.Signup("owner@example.com", "owner password")
	box.next(t)
	private := owner.MustUpload("private")

	// The reproduction: sign up as OPS@example.com, which has no account yet.
	attacker := visitor(t, s.URL)
	attacker.Signup("OPS@example.com", "attacker-pass-1")
	opsMail := box.next(t)
	if code, _ := attacker.Get("/admin"); code != http.StatusNotFound {
		t.Errorf("unverified ADMIN_EMAILS sign-up: /admin %d, want 404", code)
	}
	if code, _ := attacker.Get("/images/" + private + "/file"); code != http.StatusNotFound {
		t.Errorf("unverified ADMIN_EMAILS sign-up reads a private file: %d", code)
	}
	// The real owner of ops@ opens the link, but is not signed in as the
	// account the stranger made, so nothing is confirmed.
	token := verifyRE.FindStringSubmatch(opsMail.data)[1]
	realOps := visitor(t, s.URL)
	if code, _ := realOps.Get("/verify?token=" + token); code != http.StatusSeeOther {
		t.Errorf("verify link without a session: %d, want 303 to sign in", code)
	}
	if code, _, _ := realOps.Form("/verify", url.Values{"token": {token}}); code != http.StatusSeeOther {
		t.Errorf("verify POST without a session: %d, want 303 to sign in", code)
	}
	if code, _ := attacker.Get("/admin"); code != http.StatusNotFound {
		t.Errorf("after the owner's click: /admin %d, want 404", code)
	}
	// The owner takes the address back with a password reset; the
	// stranger's session ends, and the owner is the admin.
	realOps.Form("/forgot", url.Values{"email": {"ops@example.com"}})
	reset := linkRE.FindStringSubmatch(box.next(t).data)[1]
	if code, _, _ := realOps.Form("/reset", url.Values{"token": {reset}, "password": {"owner's new password"}}); code != http.StatusSeeOther {
		t.Fatalf("reset: %d", code)
	}
	if code, _ := attacker.Get("/account"); code != http.StatusSeeOther {
		t.Errorf("the stranger is still signed in after the reset: %d", code)
	}
	realOps.Login("ops@example.com", "owner's new password")
	if code, _ := realOps.Get("/admin"); code != http.StatusOK {
		t.Errorf("verified ADMIN_EMAILS account: /admin %d, want 200", code)
	}

	// The ordinary path: sign up, open the mailed link while signed in, confirm.
	admin := visitor(t, s.URL)
	admin.Signup("admin@example.com", "admin password")
	token = verifyRE.FindStringSubmatch(box.next(t).data)[1]
	if code, body := admin.Get("/verify?token=" + token); code != http.StatusOK || !strings.Contains(body, "Confirm my address") {
		t.Fatalf("verify page: %d", code)
	}
	if code, _, _ := admin.Form("/verify", url.Values{"token": {token}}); code != http.StatusSeeOther {
		t.Fatalf("verify: %d", code)
	}
	if code, _ := admin.Get("/admin"); code != http.StatusOK {
		t.Errorf("verified admin@: /admin %d, want 200", code)
	}
	if code, _, _ := admin.Form("/verify", url.Values{"token": {token}}); code != http.StatusGone {
		t.Errorf("second use of the verify link: %d, want 410", code)
	}

	// Taken off ADMIN_EMAILS, both lose the role at the next start.
	again := start(t, opts{roles: webOnly, dbURL: s.DBURL})
	for email, pw := range map[string]string{"admin@example.com": "admin password", "ops@example.com": "owner's new password"} {
		v := visitor(t, again.URL)
		v.Login(email, pw)
		if code, _ := v.Get("/admin"); code != http.StatusNotFound {
			t.Errorf("%s after leaving ADMIN_EMAILS: /admin %d, want 404", email, code)
		}
	}
}

// The role a command-line grant gives signs the account's sessions out;
// an admin can change roles on /admin/users, only of verified accounts.
func TestRoleChangesSignOutAndNeedVerification(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	boss, mod, fresh := visitor(t, s.URL), visitor(t, s.URL), visitor(t, s.URL)
	boss.Signup("boss@example.com", "boss password")
	mod.Signup("mod@example.com", "mod password")
	fresh.Signup("fresh@example.com", "fresh password")
	testutil.Grant(t, s.app.Store, "boss@example.com", "admin")
	if code, _ := boss.Get("/account"); code != http.StatusSeeOther {
		t.Fatalf("session survived its role change: /account %d", code)
	}
	boss.Login("boss@example.com", "boss password")
	code, body := boss.Get("/admin/users")
	if code != http.StatusOK || !strings.Contains(body, "fresh@example.com") {
		t.Fatalf("/admin/users: %d", code)
	}
	id := func(email string) string {
		u, err := s.app.Store.UserByEmail(context.Background(), email)
		if err != nil {
			t.Fatal(err)
		}
		return u.ID.String()
	}
	if code, body, _ := boss.Form("/admin/users/"+id("fresh@example.com")+"/role", url.Values{"role": {"moderator"}}); code != http.StatusConflict || !strings.Contains(body, "not confirmed") {
		t.Errorf("role for an unverified account: %d", code)
	}
	testutil.Grant(t, s.app.Store, "mod@example.com", "user") // the operator vouches: verified, still a user
	mod.Login("mod@example.com", "mod password")
	if code, _, _ := boss.Form("/admin/users/"+id("mod@example.com")+"/role", url.Values{"role": {"moderator"}}); code != http.StatusSeeOther {
		t.Errorf("grant moderator: %d", code)
	}
	if code, _ := mod.Get("/account"); code != http.StatusSeeOther {
		t.Errorf("moderator's session survived the grant: %d", code)
	}
	for _, v := range []*testutil.Visitor{mod, fresh, visitor(t, s.URL)} {
		if code, _, _ := v.Form("/admin/users/"+id("fresh@example.com")+"/role", url.Values{"role": {"admin"}}); code != http.StatusNotFound {
			t.Errorf("a non-admin set a role: %d, want 404", code)
		}
	}
}

// Forty wrong passwords at once from one address: no more than the threshold
// are checked, whatever the timing. (The owner's own sign-in forgives the
// failures before it, so a right password inside the burst could let a few
// more through: that is by design.)
func TestLoginThrottleHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: webOnly})
	visitor(t, s.URL).Signup("target@example.com", "right password")
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			code, _, _ := visitor(t, s.URL).Form("/login", url.Values{"email": {"target@example.com"}, "password": {"wrong password"}})
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusUnauthorized] > 5 || codes[http.StatusTooManyRequests] < 35 {
		t.Fatalf("40 concurrent sign-ins: %v; want at most 5 checked, the rest 429", codes)
	}
}

// A stranger's failures delay the stranger, not the account's owner.
func TestStrangerCannotLockOutTheOwner(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: webOnly, tweak: func(c *config.Config) {
		c.TrustedProxies = []net.IPNet{{IP: net.IPv4(127, 0, 0, 0), Mask: net.CIDRMask(8, 32)}}
	}})
	visitor(t, s.URL).Signup("owner@example.com", "right password")
	stranger := visitor(t, s.URL)
	for range 12 {
		stranger.Form("/login", url.Values{"email": {"owner@example.com"}, "password": {"guess"}}, "X-Forwarded-For", "198.51.100.66")
	}
	code, body, h := stranger.Form("/login", url.Values{"email": {"owner@example.com"}, "password": {"right password"}}, "X-Forwarded-For", "198.51.100.66")
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.Contains(body, "Wait") {
		t.Errorf("the stranger's address is not delayed: %d", code)
	}
	owner := visitor(t, s.URL)
	if code, _, _ := owner.Form("/login", url.Values{"email": {"owner@example.com"}, "password": {"right password"}}, "X-Forwarded-For", "192.0.2.10"); code != http.StatusSeeOther {
		t.Errorf("the owner, from another address, is locked out: %d", code)
	}
}

// /reset refuses a bogus token before looking at (and hashing) the
// password, and the account forms are throttled per address.
func TestAccountFormsAreThrottled(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: webOnly})
	v := visitor(t, s.URL)
	if code, _, _ := v.Form("/reset", url.Values{"token": {"bogus"}, "password": {"x"}}); code != http.StatusGone {
		t.Errorf("bogus token: %d, want 410 before the password is checked", code)
	}
	for _, c := range []struct {
		path string
		n    int
		vals url.Values
	}{
		{"/forgot", 10, url.Values{"email": {"someone@example.com"}}},
		{"/signup", 10, url.Values{"email": {"new@example.com"}, "password": {"long enough"}}},
		{"/reset", 19, url.Values{"token": {"bogus"}, "password": {"long enough"}}}, // one used above
	} {
		for i := range c.n {
			if code, _, _ := v.Form(c.path, c.vals); code == http.StatusTooManyRequests {
				t.Fatalf("%s: throttled after %d", c.path, i)
			}
		}
		code, body, h := v.Form(c.path, c.vals)
		if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.Contains(body, "Try again in") {
			t.Errorf("%s over the limit: %d", c.path, code)
		}
	}
}

// Sign-up answers the same whether or not the address has an account, and
// the owner of an existing one gets a mail saying so.
func TestSignupDoesNotTellWhichAddressesExist(t *testing.T) {
	t.Parallel()
	box := startMailbox(t)
	s := start(t, opts{roles: both, tweak: func(c *config.Config) { c.SMTPURL = "smtp://" + box.addr }})
	_, first, _ := visitor(t, s.URL).Form("/signup", url.Values{"email": {"taken@example.com"}, "password": {"first password"}})
	if m := box.next(t); !strings.Contains(m.data, "/verify?token=") {
		t.Fatalf("no verification link:\n%s", m.data)
	}
	code, again, _ := visitor(t, s.URL).Form("/signup", url.Values{"email": {"Taken@example.com"}, "password": {"other password"}})
	if code != http.StatusOK || strings.ReplaceAll(again, "Taken@", "taken@") != first {
		t.Errorf("a second sign-up for the address answers differently (%d)", code)
	}
	m := box.next(t)
	if !strings.Contains(m.data, "already has one") || strings.Contains(m.data, "/verify?token=") {
		t.Errorf("the owner's mail:\n%s", m.data)
	}
	// The first password still signs in: the second sign-up changed nothing.
	visitor(t, s.URL).Login("taken@example.com", "first password")
}

// NUL bytes in a search, a form field or an upload's file name are refused
// with a clear message, not a server error.
func TestNULBytesAreRefused(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: webOnly})
	v := visitor(t, s.URL)
	if code, body := v.Get("/?q=dog%00cat"); code != http.StatusBadRequest || !strings.Contains(body, "NUL character") {
		t.Errorf("search with NUL: %d", code)
	}
	if code, body, _ := v.Form("/login", url.Values{"email": {"a\x00@example.com"}, "password": {"whatever"}}); code != http.StatusBadRequest || !strings.Contains(body, "NUL character") {
		t.Errorf("login email with NUL: %d", code)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	hdr := textproto.MIMEHeader{}
	hdr.Set("Content-Disposition", `form-data; name="image"; filename*=UTF-8''a%00b.jpg`)
	hdr.Set("Content-Type", "image/jpeg")
	pw, _ := mw.CreatePart(hdr)
	pw.Write(testutil.JPEG(t, 8, 8))
	mw.Close()
	req, _ := http.NewRequest("POST", s.URL+"/images", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	code, resp, _ := v.Do(req)
	if code != http.StatusUnprocessableEntity || !strings.Contains(resp, "control character") {
		t.Errorf("file name with NUL: %d %s", code, resp)
	}
	if n := countRows(t, s); n != 0 {
		t.Errorf("%d rows stored", n)
	}
}

// Twenty concurrent two-file guest uploads against a quota of 20: ten
// fit. Deleting one gives nothing back, and an upload over quota is
// refused before its body is sent.
func TestGuestQuotaHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: webOnly, tweak: func(c *config.Config) { c.GuestUploads = 20 }})
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for {
				res := post(t, s.URL, []file{{"a.jpg", testutil.JPEG(t, 8, 8)}, {"b.jpg", testutil.JPEG(t, 8, 8)}}, map[string]string{"Accept": "application/json"})
				body, _ := io.ReadAll(res.Body)
				if bytes.Contains(body, []byte("still in progress")) {
					continue // the per-address cap on uploads in flight; try again
				}
				mu.Lock()
				codes[res.StatusCode]++
				mu.Unlock()
				return
			}
		})
	}
	wg.Wait()
	if codes[http.StatusCreated] != 10 || codes[http.StatusTooManyRequests] != 10 || countRows(t, s) != 20 {
		t.Fatalf("20 concurrent 2-file uploads, quota 20: %v, %d rows", codes, countRows(t, s))
	}
	g := visitor(t, s.URL)
	if code, _ := g.Upload(""); code != http.StatusTooManyRequests {
		t.Fatalf("over quota: %d", code)
	}
	s.app.Pool.Exec(context.Background(), `DELETE FROM images WHERE id IN (SELECT id FROM images LIMIT 5)`)
	if code, _ := g.Upload(""); code != http.StatusTooManyRequests {
		t.Errorf("deleting uploads freed the quota: %d", code)
	}

	// Headers only, claiming 19 MB: the answer comes before any body byte.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /images HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n", 19<<20)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body: %v", err)
	}
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Errorf("over-quota upload before its body: %d", res.StatusCode)
	}
}

// Accounts upload unlisted unless they choose, and the form remembers the
// choice; a failed image stays out of the gallery and says so plainly;
// deleting asks first.
func TestSaferDefaults(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	u := visitor(t, s.URL)
	u.Signup("careful@example.com", "long enough")
	if _, home := u.Get("/"); !strings.Contains(home, `<option value="unlisted" selected`) {
		t.Error("the form does not preselect unlisted for a new account")
	}
	id := u.MustUpload("")
	var vis string
	s.app.Pool.QueryRow(context.Background(), `SELECT visibility FROM images WHERE id = $1`, id).Scan(&vis)
	if vis != "unlisted" {
		t.Errorf("default visibility %q, want unlisted", vis)
	}
	u.MustUpload("private")
	if _, home := u.Get("/"); !strings.Contains(home, `<option value="private" selected`) {
		t.Error("the form does not remember the last choice")
	}

	// A damaged image, uploaded as public, fails: not in the gallery.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("visibility", "public")
	fw, _ := mw.CreateFormFile("image", "broken.png")
	fw.Write(brokenPNG(t))
	mw.Close()
	req, _ := http.NewRequest("POST", s.URL+"/images", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	code, resp, h := u.Do(req)
	broken := strings.TrimPrefix(h.Get("Location"), "/images/")
	if code != http.StatusSeeOther {
		t.Fatalf("truncated upload: %d %.500s", code, resp)
	}
	events(t, s.URL+"/images/"+broken+"/events", 30*time.Second)
	if _, gallery := visitor(t, s.URL).Get("/"); strings.Contains(gallery, broken) {
		t.Error("a failed image is listed in the public gallery")
	}
	if _, page := u.Get("/images/" + broken); !strings.Contains(page, "This file could not be read; it may be damaged.") || !strings.Contains(page, "<details") {
		t.Error("the owner does not see the plain failure sentence with details")
	}

	code, page, _ := u.Form("/images/"+id+"/delete", nil)
	if code != http.StatusOK || !strings.Contains(page, "Delete this photo?") {
		t.Fatalf("delete without confirmation: %d", code)
	}
	if code, _ := u.Get("/images/" + id); code != http.StatusOK {
		t.Fatalf("deleted without confirmation")
	}
	if code, _, _ := u.Form("/images/"+id+"/delete", url.Values{"confirm": {"yes"}}); code != http.StatusSeeOther {
		t.Fatalf("confirmed delete: %d", code)
	}
	if code, _ := u.Get("/images/" + id); code != http.StatusNotFound {
		t.Errorf("after a confirmed delete: %d", code)
	}
}

// Photos lose their metadata on the way in: what is stored and served has
// no GPS position, camera or names, keeps its orientation, and the page
// gives its upright size.
func TestUploadsLoseTheirMetadata(t *testing.T) {
	t.Parallel()
	exiftool, err := exec.LookPath("exiftool")
	if err != nil {
		t.Fatal("exiftool is missing: run `go tool task test-tools` (it installs Debian's libimage-exiftool-perl)")
	}
	s := start(t, opts{roles: webOnly})
	v := visitor(t, s.URL)
	dir := t.TempDir()
	var pngBuf bytes.Buffer
	png.Encode(&pngBuf, image.NewRGBA(image.Rect(0, 0, 40, 30)))
	webp, err := os.ReadFile("../imagefile/testdata/blue-purple-pink.lossy.webp")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"p.jpg": testutil.JPEG(t, 40, 30), "p.png": pngBuf.Bytes(), "p.webp": webp} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, data, 0o644)
		out, err := exec.Command(exiftool, "-q", "-overwrite_original", "-GPSLatitude=48.8584", "-GPSLatitudeRef=N",
			"-GPSLongitude=2.2945", "-GPSLongitudeRef=E", "-Artist=Someone", "-Model=PhoneCam", "-Orientation#=6", path).CombinedOutput()
		if err != nil {
			t.Fatalf("exiftool %s: %v %s", name, err, out)
		}
		tagged, _ := os.ReadFile(path)
		if !strings.Contains(exif(t, exiftool, path), "GPSLatitude") {
			t.Fatalf("%s: exiftool added no GPS", name)
		}
		res := post(t, s.URL, []file{{name, tagged}}, nil)
		id := location(t, res, "/images/")
		code, served := v.Get("/images/" + id + "/file")
		if code != http.StatusOK {
			t.Fatalf("%s: file %d", name, code)
		}
		back := filepath.Join(dir, "served-"+name)
		os.WriteFile(back, []byte(served), 0o644)
		tags := exif(t, exiftool, back)
		for _, leak := range []string{"GPS", "Artist", "Someone", "PhoneCam"} {
			if strings.Contains(tags, leak) {
				t.Errorf("%s: the served file still has %s:\n%s", name, leak, tags)
			}
		}
		if !strings.Contains(tags, `"Orientation": 6`) {
			t.Errorf("%s: the orientation is lost:\n%s", name, tags)
		}
		if name == "p.jpg" {
			if _, page := v.Get("/images/" + id); !strings.Contains(page, "30 × 40 px") {
				t.Errorf("the page does not give the upright size 30 × 40")
			}
		}
	}
}

func exif(t *testing.T, exiftool, path string) string {
	out, err := exec.Command(exiftool, "-j", "-n", "-EXIF:all", "-XMP:all", "-GPS:all", path).Output()
	if err != nil {
		t.Fatalf("exiftool -j %s: %v", path, err)
	}
	return string(out)
}
