package handlers

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/imagefile"
	"captionai/jobs"
	"captionai/testutil"
	"captionai/views"
)

// uploadPhoto uploads a w×h JPEG with the given visibility and returns its id.
func uploadPhoto(t *testing.T, v *testutil.Visitor, visibility string, w, h int) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("visibility", visibility)
	fw, _ := mw.CreateFormFile("image", "big.jpg")
	fw.Write(testutil.JPEG(t, w, h))
	mw.Close()
	req, _ := http.NewRequest("POST", v.Base+"/images", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	code, _, hd := v.Do(req)
	id := strings.TrimPrefix(hd.Get("Location"), "/images/")
	if code != http.StatusSeeOther || id == "" {
		t.Fatalf("upload: %d", code)
	}
	return id
}

// derive makes and records an image's derivatives as the worker does.
func (s *testServer) derive(t *testing.T, id string) []db.Derivative {
	t.Helper()
	ctx := context.Background()
	store := db.New(s.pool)
	img, err := store.Image(ctx, uuid.MustParse(id))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := jobs.Deriver{Files: s.h.Files}.Make(ctx, img.ID, img.StorageKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.SaveDerivatives(ctx, img.ID, ds); err != nil {
		t.Fatal(err)
	}
	return ds
}

// imgTag returns the first <img ...> of body whose attributes contain has.
func imgTag(t *testing.T, body, has string) string {
	t.Helper()
	for _, tag := range regexp.MustCompile(`<img [^>]*>`).FindAllString(body, -1) {
		if strings.Contains(tag, has) {
			return tag
		}
	}
	t.Fatalf("no <img> with %q in %s", has, body)
	return ""
}

// Pages show the card in tiles and cards and the view on the image page,
// each with both sizes in srcset, sizes, and the shown file's width and
// height; before the worker has made them, the original.
func TestPagesUseDerivatives(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	v.Signup("sizes@example.com", "correct horse battery")
	id := uploadPhoto(t, v, "public", 2000, 1500)
	small := uploadPhoto(t, v, "public", 800, 600)
	s.captionAll(t)

	// Before its sizes, a photo larger than its view is a placeholder of
	// its shape; a smaller one is its original.
	_, gallery := v.Get("/gallery")
	if strings.Contains(gallery, `src="/images/`+id+`/file"`) {
		t.Error("before derivatives, the gallery shows the large original")
	}
	if tag := imgTag(t, gallery, `src="data:image/svg+xml,`); strings.Contains(tag, "srcset") ||
		!strings.Contains(tag, `width="2000"`) || !strings.Contains(tag, `height="1500"`) {
		t.Errorf("before derivatives, the tile is %s", tag)
	}
	if tag := imgTag(t, gallery, small); !strings.Contains(tag, `src="/images/`+small+`/file"`) || !strings.Contains(tag, `width="800"`) {
		t.Errorf("before derivatives, the small photo's tile is %s", tag)
	}
	// Staff thumbnails show the original: moderators see what they judge.
	if a := (views.Image{ID: id, Width: 2000, Height: 1500, SizesPending: true}).Thumb(); a["src"] != "/images/"+id+"/file" {
		t.Errorf("a pending image's staff thumbnail is %v", a)
	}

	ds := s.derive(t, id)
	url := map[string]string{}
	for _, d := range ds {
		url[d.Kind] = "/images/" + id + "/sizes/" + d.Kind + "-" + d.SHA256[:32] + ".webp"
	}
	srcset := `srcset="` + url[imagefile.Card] + ` 480w, ` + url[imagefile.View] + ` 1600w"`
	for _, page := range []string{"/gallery", "/", "/me"} {
		_, body := v.Get(page)
		tag := imgTag(t, body, id)
		for _, want := range []string{`src="` + url[imagefile.Card] + `"`, srcset, `sizes="`, `width="480"`, `height="360"`} {
			if !strings.Contains(tag, want) {
				t.Errorf("%s: %s lacks %s", page, tag, want)
			}
		}
	}
	_, page := v.Get("/images/" + id)
	tag := imgTag(t, page, `id="photo"`)
	for _, want := range []string{`src="` + url[imagefile.View] + `"`, srcset, `sizes="`, `width="1600"`, `height="1200"`} {
		if !strings.Contains(tag, want) {
			t.Errorf("image page: %s lacks %s", tag, want)
		}
	}
	if !strings.Contains(page, `href="/images/`+id+`/file?download=1"`) {
		t.Error("the image page lost Download original")
	}
}

// A derivative's URL names its bytes: a public one may be cached by
// anyone for a year, an unlisted or private one by the browser only and
// behind the same access check as the original. ETag, If-None-Match and
// HEAD work; another hash or kind is 404.
func TestDerivativeCaching(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	owner := testutil.NewVisitor(t, s.URL)
	owner.Signup("owner@example.com", "correct horse battery")
	other := testutil.NewVisitor(t, s.URL)
	public := uploadPhoto(t, owner, "public", 800, 600)
	private := uploadPhoto(t, owner, "private", 800, 600)
	s.captionAll(t)
	do := func(v *testutil.Visitor, method, path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := v.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	for _, c := range []struct {
		id, cache string
	}{{public, "public, max-age=31536000, immutable"}, {private, "private, max-age=31536000, immutable"}} {
		for _, d := range s.derive(t, c.id) {
			path := "/images/" + c.id + "/sizes/" + d.Kind + "-" + d.SHA256[:32] + ".webp"
			res, body := do(owner, "GET", path)
			if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/webp" || int64(len(body)) != d.SizeBytes {
				t.Fatalf("%s: %d %s, %d bytes", path, res.StatusCode, res.Header.Get("Content-Type"), len(body))
			}
			if got := res.Header.Get("Cache-Control"); got != c.cache {
				t.Errorf("%s: Cache-Control %q, want %q", path, got, c.cache)
			}
			etag := res.Header.Get("ETag")
			if etag != `"`+d.SHA256+`"` || res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: ETag %q, nosniff %q", path, etag, res.Header.Get("X-Content-Type-Options"))
			}
			if res, _ := do(owner, "GET", path, "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
				t.Errorf("%s with If-None-Match: %d, want 304", path, res.StatusCode)
			}
			if res, b := do(owner, "HEAD", path); res.StatusCode != 200 || res.ContentLength != d.SizeBytes || len(b) != 0 {
				t.Errorf("HEAD %s: %d, length %d, body %d", path, res.StatusCode, res.ContentLength, len(b))
			}
			wantOther := 200
			if c.id == private {
				wantOther = 404
			}
			if res, _ := do(other, "GET", path); res.StatusCode != wantOther {
				t.Errorf("another visitor: %s is %d, want %d", path, res.StatusCode, wantOther)
			}
			for _, bad := range []string{
				"/images/" + c.id + "/sizes/" + d.Kind + "-" + strings.Repeat("0", 32) + ".webp",
				"/images/" + c.id + "/sizes/" + d.Kind + "-" + d.SHA256[:31] + ".webp",
				"/images/" + c.id + "/sizes/original-" + d.SHA256[:32] + ".webp",
				"/images/" + c.id + "/sizes/" + d.Kind + "-" + d.SHA256[:32] + ".jpg",
			} {
				if res, _ := do(owner, "GET", bad); res.StatusCode != 404 {
					t.Errorf("%s: %d, want 404", bad, res.StatusCode)
				}
			}
		}
	}
}
