package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"captionai/app"
	"captionai/testutil"
)

const slowBoundary = "slowclientboundary"

// rawUpload opens a connection and sends the headers of a JSON upload that
// announces a 1 MB body, then what the body starts with: the part header of
// one file, and data.
func rawUpload(t *testing.T, url string, expectContinue bool, data []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST /images HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n", strings.TrimPrefix(url, "http://"))
	fmt.Fprintf(&b, "Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n", slowBoundary, 1<<20)
	if expectContinue {
		b.WriteString("Expect: 100-continue\r\n")
	}
	b.WriteString("\r\n")
	if !expectContinue {
		fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=\"image\"; filename=\"slow.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n", slowBoundary)
		b.Write(data)
	}
	if _, err := c.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// marker is random file content to recognise a request's temp file by.
func marker() []byte {
	b := make([]byte, 2048)
	rand.Read(b)
	return []byte(hex.EncodeToString(b))
}

// tempFilesWith counts the upload temp files that start with m's first KB.
// Other tests' files are there too; they never start with m.
func tempFilesWith(m []byte) int {
	names, _ := filepath.Glob(filepath.Join(os.TempDir(), "captionai-upload-*"))
	n := 0
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			continue // removed meanwhile
		}
		head := make([]byte, 1024)
		if _, err := io.ReadFull(f, head); err == nil && bytes.Equal(head, m[:1024]) {
			n++
		}
		f.Close()
	}
	return n
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %s", what, d)
		}
	}
}

// TestSlowUploadsAreCutOff: a body that trickles a byte every 5 s, and one
// that sends a burst and then stalls, are both answered and closed within
// about 10 s, and their temp files removed.
func TestSlowUploadsAreCutOff(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: app.Roles{Web: true}})

	trickleMark, stallMark := marker(), marker()
	began := time.Now()
	trickle, trickleR := rawUpload(t, s.URL, false, trickleMark)
	// 64 KB ahead of the minimum rate: only the stall limit can end this one.
	stall, stallR := rawUpload(t, s.URL, false, append(stallMark, bytes.Repeat([]byte("x"), 64<<10)...))
	go func() {
		for {
			time.Sleep(5 * time.Second)
			if _, err := trickle.Write([]byte("y")); err != nil {
				return
			}
		}
	}()
	waitFor(t, "temp files of the slow uploads", 5*time.Second, func() bool {
		return tempFilesWith(trickleMark) == 1 && tempFilesWith(stallMark) == 1
	})

	for _, c := range []struct {
		name string
		conn net.Conn
		r    *bufio.Reader
	}{{"trickling", trickle, trickleR}, {"stalled", stall, stallR}} {
		c.conn.SetReadDeadline(began.Add(16 * time.Second))
		res, err := http.ReadResponse(c.r, nil)
		if err != nil {
			t.Fatalf("%s upload: no answer after %s: %v", c.name, time.Since(began).Round(time.Millisecond), err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "cut off") {
			t.Errorf("%s upload: %d %s; want 400, cut off", c.name, res.StatusCode, body)
		}
		if _, err := c.r.ReadByte(); err != io.EOF {
			t.Errorf("%s upload: connection not closed after the answer (%v)", c.name, err)
		}
		t.Logf("%s upload cut off after %s", c.name, time.Since(began).Round(time.Millisecond))
	}
	waitFor(t, "temp files removed", 2*time.Second, func() bool {
		return tempFilesWith(trickleMark) == 0 && tempFilesWith(stallMark) == 0
	})
	var n int
	if err := s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM images`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d images stored; want none", n)
	}
}

// TestUploadsPerAddressAreCapped: with four uploads from one address in
// the handler, a fifth is refused at once with 429, and once they end
// uploads are taken again.
func TestUploadsPerAddressAreCapped(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: app.Roles{Web: true}})

	var conns []net.Conn
	for i := range 4 {
		// The server asks for the body (100 Continue) once the upload
		// handler reads it: the request holds its slot then.
		c, r := rawUpload(t, s.URL, true, nil)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(r, nil)
		if err != nil || res.StatusCode != http.StatusContinue {
			t.Fatalf("upload %d: %v %v; want 100 Continue", i+1, res, err)
		}
		conns = append(conns, c)
	}

	began := time.Now()
	c, r := rawUpload(t, s.URL, true, nil)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fifth upload: %d %s; want 429", res.StatusCode, body)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("429 took %s", took)
	}
	if res.Header.Get("Retry-After") == "" || !res.Close || !strings.Contains(string(body), "still in progress") {
		t.Errorf("429 answer: Retry-After %q, close %v, body %s", res.Header.Get("Retry-After"), res.Close, body)
	}

	for _, c := range conns {
		c.Close()
	}
	waitFor(t, "an upload accepted after the others ended", 5*time.Second, func() bool {
		res := post(t, s.URL, []file{{"after.jpg", testutil.JPEG(t, 32, 24)}}, nil)
		return res.StatusCode == http.StatusSeeOther
	})
}

// TestUploadSentSlowlyButSteadily: a real upload that takes a few seconds,
// in pieces with pauses, is not mistaken for a slow client.
func TestUploadSentSlowlyButSteadily(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: app.Roles{Web: true}})

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i := range 3 {
		fw, _ := mw.CreateFormFile("image", fmt.Sprintf("p%d.jpg", i))
		fw.Write(testutil.JPEG(t, 400, 300))
	}
	mw.Close()
	req, _ := http.NewRequest("POST", s.URL+"/images", &steady{r: bytes.NewReader(body.Bytes()), chunk: 8 << 10, pause: 300 * time.Millisecond})
	req.ContentLength = int64(body.Len())
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	began := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", res.StatusCode, out)
	}
	t.Logf("%d bytes sent in %s", body.Len(), time.Since(began).Round(time.Millisecond))
}

// steady reads chunk bytes at a time with a pause before each.
type steady struct {
	r     io.Reader
	chunk int
	pause time.Duration
}

func (s *steady) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), s.chunk)])
}
