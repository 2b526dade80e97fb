package handlers

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"captionai/testutil"
)

// The original supports HEAD, Range and If-None-Match, stays out of shared
// caches, and downloads under its own name.
func TestOriginalFileCachingAndDownload(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	id := v.MustUpload("")
	path := s.URL + "/images/" + id + "/file"
	do := func(method string, hdr ...string) *http.Response {
		req, _ := http.NewRequest(method, path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := v.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	full := do("GET")
	body, _ := io.ReadAll(full.Body)
	etag := full.Header.Get("ETag")
	if full.StatusCode != 200 || etag == "" || !strings.HasPrefix(full.Header.Get("Cache-Control"), "private") {
		t.Fatalf("GET: %d etag %q cache %q", full.StatusCode, etag, full.Header.Get("Cache-Control"))
	}
	if head := do("HEAD"); head.StatusCode != 200 || head.ContentLength != int64(len(body)) {
		t.Errorf("HEAD: %d, length %d", head.StatusCode, head.ContentLength)
	}
	if res := do("GET", "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", res.StatusCode)
	}
	part := do("GET", "Range", "bytes=0-9")
	if b, _ := io.ReadAll(part.Body); part.StatusCode != http.StatusPartialContent || string(b) != string(body[:10]) {
		t.Errorf("Range: %d, %d bytes", part.StatusCode, len(b))
	}
	if dl := do("GET", "X-Test", "1"); dl.Header.Get("Content-Disposition") != "" {
		t.Error("an inline view is sent as an attachment")
	}
	req, _ := http.NewRequest("GET", path+"?download=1", nil)
	res, err := v.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Content-Disposition"); got != `attachment; filename=p.jpg` {
		t.Errorf("download: Content-Disposition %q", got)
	}
}
