package handlers

import (
	"bytes"
	"image"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"testing"
)

func tinyJPEG(tb testing.TB) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

const fuzzBoundary = "fuzzboundary"

// multipartBody builds an upload body: parts are {file name, content}, or
// {"visibility", value} for the form field.
func multipartBody(parts ...[2]string) []byte {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.SetBoundary(fuzzBoundary)
	for _, p := range parts {
		if p[0] == "visibility" {
			mw.WriteField("visibility", p[1])
			continue
		}
		w, _ := mw.CreateFormFile("image", p[0])
		w.Write([]byte(p[1]))
	}
	mw.Close()
	return b.Bytes()
}

// Any upload body gets a deliberate answer (never a 500 or a panic), and
// staging leaves no temporary file behind, accepted or not.
func FuzzUploadStaging(f *testing.F) {
	jpg := string(tinyJPEG(f))
	for _, seed := range [][]byte{
		multipartBody([2]string{"a.jpg", jpg}),
		multipartBody([2]string{"visibility", "private"}, [2]string{"a.jpg", jpg}, [2]string{"b.jpg", jpg}),
		multipartBody([2]string{"visibility", "nonsense"}, [2]string{"a.jpg", jpg}),
		multipartBody([2]string{"a.txt", "not an image"}),
		multipartBody([2]string{"", ""}),
		multipartBody([2]string{"cut.jpg", jpg[:len(jpg)/2]}),
		[]byte("--fuzzboundary\r\nContent-Disposition: form-data; name=\"image\"; filename*=UTF-8''a%00b.jpg\r\n\r\n" + jpg + "\r\n--fuzzboundary--\r\n"),
		[]byte("--fuzzboundary\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.jpg\"\r\n\r\n" + jpg),
		[]byte("--fuzzboundary--\r\n"),
		{},
	} {
		f.Add(seed)
	}
	s := newTestServer(f)
	s.h.Limits.GuestUploads = 1 << 30
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := client.Post(s.URL+"/images", "multipart/form-data; boundary="+fuzzBoundary, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		switch res.StatusCode {
		case http.StatusSeeOther, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("upload answered %d", res.StatusCode)
		}
		if left, _ := os.ReadDir(s.h.TempDir); len(left) != 0 {
			t.Fatalf("%d staged files left behind", len(left))
		}
	})
}

// Any search gets a page of results, an empty one or a 400: never a 500.
func FuzzGallerySearch(f *testing.F) {
	for _, q := range []string{"dog", "dog beach", `"red shirt"`, "dog -snow", "a | b", "!!", "(", "'", "\xff", "dog\x00cat", "&", ":*", "-", `"`, "or or or"} {
		f.Add(q)
	}
	s := newTestServer(f)
	f.Fuzz(func(t *testing.T, q string) {
		res, err := http.Get(s.URL + "/gallery?q=" + url.QueryEscape(q))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusBadRequest {
			t.Fatalf("search %q answered %d", q, res.StatusCode)
		}
	})
}
