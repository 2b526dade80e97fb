package testutil

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"captionai/db"
)

// Visitor is one browser without a browser: a cookie jar, and no redirect
// following, so each status is seen as sent.
type Visitor struct {
	T      testing.TB
	Base   string
	Client *http.Client
}

func NewVisitor(t testing.TB, base string) *Visitor {
	jar, _ := cookiejar.New(nil)
	return &Visitor{T: t, Base: base, Client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Do sends req and returns the status, body and headers.
func (v *Visitor) Do(req *http.Request) (int, string, http.Header) {
	v.T.Helper()
	res, err := v.Client.Do(req)
	if err != nil {
		v.T.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header
}

// Get fetches path; hdr are header name, value pairs.
func (v *Visitor) Get(path string, hdr ...string) (int, string) {
	v.T.Helper()
	req, _ := http.NewRequest("GET", v.Base+path, nil)
	setHeaders(req, hdr)
	code, body, _ := v.Do(req)
	return code, body
}

// StreamStatus is the status of an event stream: it reads the headers only.
func (v *Visitor) StreamStatus(path string) int {
	v.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", v.Base+path, nil)
	res, err := v.Client.Do(req)
	if err != nil {
		v.T.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// Form posts vals as a url-encoded form.
func (v *Visitor) Form(path string, vals url.Values, hdr ...string) (int, string, http.Header) {
	v.T.Helper()
	req, _ := http.NewRequest("POST", v.Base+path, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	setHeaders(req, hdr)
	return v.Do(req)
}

// Upload sends one small photo with the given visibility ("" for the
// default) and returns the status and the new image's id.
func (v *Visitor) Upload(visibility string, hdr ...string) (int, string) {
	v.T.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if visibility != "" {
		mw.WriteField("visibility", visibility)
	}
	fw, _ := mw.CreateFormFile("image", "p.jpg")
	fw.Write(JPEG(v.T, 24, 24))
	mw.Close()
	req, _ := http.NewRequest("POST", v.Base+"/images", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	setHeaders(req, hdr)
	code, _, h := v.Do(req)
	return code, strings.TrimPrefix(h.Get("Location"), "/images/")
}

// MustUpload is Upload that fails the test unless the upload is accepted.
func (v *Visitor) MustUpload(visibility string) string {
	v.T.Helper()
	code, id := v.Upload(visibility)
	if code != http.StatusSeeOther || id == "" {
		v.T.Fatalf("upload: status %d", code)
	}
	return id
}

// Signup creates an account and signs in with it.
func (v *Visitor) Signup(email, password string) {
	v.T.Helper()
	code, body, _ := v.Form("/signup", url.Values{"email": {email}, "password": {password}})
	if code != http.StatusOK || !strings.Contains(body, "Check your inbox") {
		v.T.Fatalf("signup %s: %d %.300s", email, code, body)
	}
	v.Login(email, password)
}

// Login signs in, failing the test unless it works.
func (v *Visitor) Login(email, password string) {
	v.T.Helper()
	if code, body, _ := v.Form("/login", url.Values{"email": {email}, "password": {password}}); code != http.StatusSeeOther {
		v.T.Fatalf("login %s: %d %.300s", email, code, body)
	}
}

// Cookie is the visitor's session cookie.
func (v *Visitor) Cookie() string {
	u, _ := url.Parse(v.Base)
	for _, c := range v.Client.Jar.Cookies(u) {
		if c.Name == "captionai_session" {
			return c.Value
		}
	}
	return ""
}

func setHeaders(req *http.Request, hdr []string) {
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
}

// JPEG makes a small JPEG with some structure.
func JPEG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) % 256), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Grant gives an account a role as `captionai admin grant` does (the
// address counts as verified); the account's sessions must sign in again.
func Grant(t testing.TB, store *db.Store, email, role string) {
	t.Helper()
	ctx := context.Background()
	u, err := store.UserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetRole(ctx, u.ID, role, "cli", true, nil); err != nil {
		t.Fatal(err)
	}
}
