package handlers

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"captionai/testutil"
)

// uploadReq builds a multipart upload of files (name → bytes) plus fields.
func uploadReq(t *testing.T, base string, files [][2]string, fields map[string]string, hdr ...string) *http.Request {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for _, f := range files {
		w, _ := mw.CreateFormFile("image", f[0])
		w.Write([]byte(f[1]))
	}
	mw.Close()
	req, _ := http.NewRequest("POST", base+"/images", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

func (s *testServer) count(t *testing.T, table string) int {
	var n int
	if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A refused upload stores nothing: no row, no job, no file.
func (s *testServer) nothingStored(t *testing.T) {
	t.Helper()
	if n := s.count(t, "images"); n != 0 {
		t.Errorf("%d image rows stored", n)
	}
	if n := s.count(t, "river_job WHERE kind = 'caption'"); n != 0 {
		t.Errorf("%d caption jobs queued", n)
	}
}

func TestUploadRefusals(t *testing.T) {
	t.Parallel()
	jpg := string(testutil.JPEG(t, 16, 16))
	for _, c := range []struct {
		name   string
		files  [][2]string
		fields map[string]string
		code   int
		want   string
	}{
		{"no file", nil, nil, http.StatusBadRequest, "Choose at least one image"},
		{"not an image", [][2]string{{"notes.jpg", "plain text, named .jpg"}}, nil, http.StatusUnprocessableEntity, "the content was checked, not the file name"},
		{"empty file", [][2]string{{"empty.jpg", ""}}, nil, http.StatusUnprocessableEntity, "the file is empty"},
		{"one bad of two", [][2]string{{"good.jpg", jpg}, {"bad.png", "nope"}}, nil, http.StatusUnprocessableEntity, "1 of 2 files can't be used"},
		{"bad visibility", [][2]string{{"a.jpg", jpg}}, map[string]string{"visibility": "everyone"}, http.StatusUnprocessableEntity, "public, unlisted or private"},
		{"too many files", [][2]string{{"1.jpg", jpg}, {"2.jpg", jpg}, {"3.jpg", jpg}, {"4.jpg", jpg}}, nil, http.StatusRequestEntityTooLarge, "at most 3 can be uploaded"},
		{"too big", [][2]string{{"big.jpg", jpg + strings.Repeat("x", 70<<10)}}, nil, http.StatusRequestEntityTooLarge, "the limit is"},
		{"bomb", [][2]string{{"bomb.png", string(pngHeader(20000, 20000))}}, nil, http.StatusUnprocessableEntity, "megapixels"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t)
			s.h.Limits.MaxFiles, s.h.Limits.MaxFileBytes = 3, 64<<10
			code, body, _ := testutil.NewVisitor(t, s.URL).Do(uploadReq(t, s.URL, c.files, c.fields, "Accept", "application/json"))
			if code != c.code || !strings.Contains(body, c.want) {
				t.Errorf("%d %s, want %d with %q", code, body, c.code, c.want)
			}
			var out struct{ Error string }
			if json.Unmarshal([]byte(body), &out) != nil || out.Error == "" {
				t.Errorf("not a JSON error: %s", body)
			}
			s.nothingStored(t)
		})
	}
}

// pngHeader is a PNG signature and IHDR claiming w×h pixels, nothing more.
func pngHeader(w, h int) []byte {
	chunk := []byte{'I', 'H', 'D', 'R', byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w),
		byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h), 8, 2, 0, 0, 0}
	out := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0d"), chunk...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(chunk))
}

// The three answers of a refusal: a page for a browser without JS, a
// fragment for htmx, JSON for scripts.
func TestUploadRefusalIsRenderedForEachClient(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	files := [][2]string{{"notes.jpg", "text"}}
	code, page, _ := v.Do(uploadReq(t, s.URL, files, nil))
	if code != 422 || !strings.Contains(page, "<html") || !strings.Contains(page, "notes.jpg") || !strings.Contains(page, `id="image"`) {
		t.Errorf("page: %d", code)
	}
	code, frag, _ := v.Do(uploadReq(t, s.URL, files, nil, "HX-Request", "true"))
	if code != 422 || strings.Contains(frag, "<html") || !strings.Contains(frag, `class="alert"`) {
		t.Errorf("fragment: %d %s", code, frag)
	}
}

func TestUploadIsQueuedWithItsJob(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	jpg := string(testutil.JPEG(t, 16, 16))
	code, body, _ := v.Do(uploadReq(t, s.URL, [][2]string{{"a.jpg", jpg}, {"b.jpg", jpg}}, nil, "Accept", "application/json"))
	if code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, body)
	}
	var out struct {
		BatchID string `json:"batch_id"`
		Images  []struct {
			ID, Status    string
			CaptionSource *string `json:"caption_source"`
			Edited        bool
		}
	}
	json.Unmarshal([]byte(body), &out)
	if len(out.Images) != 2 || out.Images[0].Status != "queued" {
		t.Fatalf("json: %s", body)
	}
	if im := out.Images[0]; im.CaptionSource != nil || im.Edited {
		t.Errorf("a queued photo: caption_source set (%t), edited %v (want null, false)", im.CaptionSource != nil, im.Edited)
	}
	var jobs int
	s.pool.QueryRow(context.Background(), `SELECT count(*) FROM images i JOIN river_job j ON j.id = i.job_id
		WHERE j.kind = 'caption' AND j.args->>'image_id' = i.id::text`).Scan(&jobs)
	if jobs != 2 {
		t.Errorf("%d images with their caption job, want 2", jobs)
	}
	// A guest's upload is unlisted, on its batch page, and on /me.
	if code, page := v.Get("/batches/" + out.BatchID); code != 200 || !strings.Contains(page, "2 photos") {
		t.Errorf("batch page: %d", code)
	} else if !strings.Contains(page, "to see new captions") {
		t.Error("the batch page of queued photos offers no refresh without JavaScript")
	}
	if _, mine := v.Get("/me"); !strings.Contains(mine, out.Images[1].ID) {
		t.Error("the guest's /me lacks the upload")
	}
	if _, home := testutil.NewVisitor(t, s.URL).Get("/"); strings.Contains(home, out.Images[0].ID) {
		t.Error("a guest's default-visibility upload is in the public gallery")
	}
}

func TestHTMXUploadAnswersAFragment(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	code, body, _ := testutil.NewVisitor(t, s.URL).Do(uploadReq(t, s.URL, [][2]string{{"a.jpg", string(testutil.JPEG(t, 8, 8))}}, nil, "HX-Request", "true"))
	if code != http.StatusCreated || strings.Contains(body, "<html") || !strings.Contains(body, "sse-connect") {
		t.Fatalf("%d %s", code, body)
	}
}

func TestGuestOverQuotaIsRefusedBeforeTheBody(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.h.Limits.GuestUploads = 1
	v := testutil.NewVisitor(t, s.URL)
	v.MustUpload("")
	code, body, h := v.Do(uploadReq(t, s.URL, [][2]string{{"a.jpg", string(testutil.JPEG(t, 8, 8))}}, nil, "Accept", "application/json"))
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.Contains(body, "Guests can upload 1 photo an hour from one network address, and none are left") {
		t.Fatalf("%d %s", code, body)
	}
	// Signed in, the guest quota does not apply.
	v.Signup("uploader@example.com", "long enough")
	v.MustUpload("")
}
