package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"captionai/testutil/seaweedfs"
)

// The S3 tests run SeaweedFS (`go tool task seaweedfs` builds it), one
// server per test binary, and give each test its own bucket.
const (
	testAccessKey = seaweedfs.AccessKey
	testSecretKey = seaweedfs.SecretKey
)

var weed struct {
	once    sync.Once
	err     error
	srv     *seaweedfs.Server
	dir     string
	buckets atomic.Int64
}

func TestMain(m *testing.M) {
	code := m.Run()
	if weed.srv != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "SeaweedFS's log ends:\n%s\n", weed.srv.Log())
		}
		weed.srv.Stop(15 * time.Second)
	}
	if weed.dir != "" {
		os.RemoveAll(weed.dir)
	}
	os.Exit(code)
}

// s3URL returns the STORAGE_URL of a new, empty bucket on the test server,
// and sets the test's credentials in the environment, where the SDK reads
// them.
func s3URL(t *testing.T) string {
	t.Helper()
	weed.once.Do(func() {
		if weed.dir, weed.err = os.MkdirTemp("", "captionai-weed-*"); weed.err == nil {
			weed.srv, weed.err = seaweedfs.Start(seaweedfs.Bin(".."), weed.dir)
		}
	})
	if weed.err != nil {
		t.Fatal(weed.err)
	}
	setCredentials(t, testAccessKey, testSecretKey)
	bucket := fmt.Sprintf("captionai-%d", weed.buckets.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := weed.srv.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("creating bucket %s: %v", bucket, err)
	}
	return weed.srv.URL(bucket)
}

// openS3 opens a new bucket through Open, as the app does, with small
// parts so that a few megabytes go as a multipart upload.
func openS3(t *testing.T) *S3 {
	t.Helper()
	st, err := Open(s3URL(t), "")
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*S3)
	s.partSize = 5 << 20 // S3's smallest
	return s
}

// setCredentials leaves the SDK nothing but the environment to read.
func setCredentials(t *testing.T, key, secret string) {
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
	} {
		t.Setenv(k, v)
	}
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

// tempFile writes b to a file and leaves it open at the start, as the
// upload handler passes its staged files.
func tempFile(t *testing.T, b []byte) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "upload-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	return f
}

// onlyReader hides every method but Read, as a network body would.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func readAll(t *testing.T, s Store, key string) []byte {
	t.Helper()
	f, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return b
}

// testContract checks what the app relies on, for each backend.
func testContract(t *testing.T, s Store) {
	ctx := context.Background()

	t.Run("round trip of a multi-megabyte file", func(t *testing.T) {
		data := randomBytes(12<<20+123, 1)
		n, err := s.Put(ctx, "images/big.jpg", tempFile(t, data))
		if err != nil || n != int64(len(data)) {
			t.Fatalf("Put = %d, %v; want %d", n, err, len(data))
		}
		if got := readAll(t, s, "images/big.jpg"); !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes, not the %d written", len(got), len(data))
		}
		if size, err := Stat(ctx, s, "images/big.jpg"); err != nil || size != int64(len(data)) {
			t.Errorf("Stat = %d, %v; want %d", size, err, len(data))
		}

		// What handlers/file.go does: http.ServeContent, Range included.
		f, err := s.Open(ctx, "images/big.jpg")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, c := range []struct {
			rng    string
			status int
			want   []byte
		}{
			{"", http.StatusOK, data},
			{"bytes=1000-1999", http.StatusPartialContent, data[1000:2000]},
			{"bytes=-100", http.StatusPartialContent, data[len(data)-100:]},
			{"bytes=6000000-", http.StatusPartialContent, data[6000000:]},
			{"bytes=0-0", http.StatusPartialContent, data[:1]},
		} {
			req := httptest.NewRequest("GET", "/f", nil)
			if c.rng != "" {
				req.Header.Set("Range", c.rng)
			}
			rec := httptest.NewRecorder()
			http.ServeContent(rec, req, "", time.Time{}, f)
			if rec.Code != c.status || !bytes.Equal(rec.Body.Bytes(), c.want) {
				t.Errorf("Range %q: %d with %d bytes; want %d with %d bytes", c.rng, rec.Code, rec.Body.Len(), c.status, len(c.want))
			}
		}
		// Seeks back and forth, as the image decoder does.
		buf := make([]byte, 10)
		for _, off := range []int64{5 << 20, 10, 12 << 20, 0} {
			if _, err := f.Seek(off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(f, buf); err != nil || !bytes.Equal(buf, data[off:off+10]) {
				t.Errorf("at %d: %v %x, want %x", off, err, buf, data[off:off+10])
			}
		}
		if _, err := f.Seek(-1, io.SeekStart); err == nil {
			t.Error("a seek before the start worked")
		}
	})

	t.Run("readers without Seek or ReadAt", func(t *testing.T) {
		// 10 MiB is a multiple of the test's S3 part size: no empty last part.
		for _, size := range []int{0, 1000, 10 << 20, 11<<20 + 7} {
			data := randomBytes(size, uint64(size))
			key := fmt.Sprintf("stream/%d", size)
			n, err := s.Put(ctx, key, onlyReader{bytes.NewReader(data)})
			if err != nil || n != int64(size) {
				t.Fatalf("Put(%d bytes) = %d, %v", size, n, err)
			}
			if got := readAll(t, s, key); !bytes.Equal(got, data) {
				t.Errorf("%d bytes: read back %d", size, len(got))
			}
		}
	})

	t.Run("a missing key", func(t *testing.T) {
		if _, err := s.Open(ctx, "images/nothing.jpg"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open: %v, want ErrNotFound", err)
		}
		if _, err := Stat(ctx, s, "images/nothing.jpg"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat: %v, want ErrNotFound", err)
		}
	})

	t.Run("delete twice", func(t *testing.T) {
		if _, err := s.Put(ctx, "images/gone.png", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if err := s.Delete(ctx, "images/gone.png"); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		if err := s.Delete(ctx, "images/never.png"); err != nil {
			t.Errorf("Delete of a key never stored: %v", err)
		}
		if _, err := s.Open(ctx, "images/gone.png"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open after Delete: %v, want ErrNotFound", err)
		}
	})

	t.Run("delete a folder", func(t *testing.T) {
		inside := []string{"derivatives/ab/one/card-1.webp", "derivatives/ab/one/view-2.webp", "derivatives/ab/one/x/deeper"}
		for _, key := range append(inside, "derivatives/ab/one2/card.webp", "derivatives/ab/one.webp") {
			if _, err := s.Put(ctx, key, strings.NewReader("x")); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 {
			if err := s.DeleteFolder(ctx, "derivatives/ab/one/"); err != nil {
				t.Fatalf("DeleteFolder #%d: %v", i+1, err)
			}
		}
		for _, key := range inside {
			if _, err := s.Open(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s after DeleteFolder: %v, want ErrNotFound", key, err)
			}
		}
		// Keys that only start with the folder's name are not in it.
		for _, key := range []string{"derivatives/ab/one2/card.webp", "derivatives/ab/one.webp"} {
			if got := readAll(t, s, key); string(got) != "x" {
				t.Errorf("%s: %q after its neighbour's folder went", key, got)
			}
		}
		for _, folder := range []string{"", "/", "derivatives/ab/one", "/etc/", "../x/", "a/../../x/"} {
			if err := s.DeleteFolder(ctx, folder); err == nil {
				t.Errorf("DeleteFolder(%q) worked", folder)
			}
		}
	})

	t.Run("concurrent puts", func(t *testing.T) {
		const n = 8
		want := make([][]byte, n)
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := range n {
			want[i] = randomBytes(300_000+i, uint64(100+i))
			wg.Go(func() {
				if _, err := s.Put(ctx, fmt.Sprintf("many/%d", i), bytes.NewReader(want[i])); err != nil {
					errs <- err
				}
			})
			// And all to one key: the file read after is one of them, whole.
			wg.Go(func() {
				if _, err := s.Put(ctx, "many/same", bytes.NewReader(want[i])); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for i := range n {
			if got := readAll(t, s, fmt.Sprintf("many/%d", i)); !bytes.Equal(got, want[i]) {
				t.Errorf("many/%d: read back %d bytes", i, len(got))
			}
		}
		same := readAll(t, s, "many/same")
		if !slices.ContainsFunc(want, func(w []byte) bool { return bytes.Equal(w, same) }) {
			t.Errorf("many/same holds %d bytes that no Put wrote", len(same))
		}
	})

	t.Run("bad keys", func(t *testing.T) {
		for _, key := range []string{"", "/etc/passwd", "../x", "a/../../x"} {
			if _, err := s.Put(ctx, key, strings.NewReader("x")); err == nil {
				t.Errorf("Put(%q) worked", key)
			}
			if _, err := s.Open(ctx, key); err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("Open(%q): %v", key, err)
			}
		}
	})
}

func TestLocalContract(t *testing.T) {
	l, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testContract(t, l)
}

func TestS3Contract(t *testing.T) {
	s := openS3(t)
	testContract(t, s)
	// The multi-megabyte files went as multipart uploads, in 5 MiB parts:
	// S3 gives such an object the ETag "MD5-PARTS".
	for _, key := range []string{"images/big.jpg", "stream/" + fmt.Sprint(11<<20+7)} {
		out, err := s.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
		if err != nil || !strings.HasSuffix(aws.ToString(out.ETag), `-3"`) {
			t.Errorf("%s: %v, want a 3-part upload", key, err)
		}
	}
}

func TestS3WrongCredentials(t *testing.T) {
	url := s3URL(t)
	for _, c := range []struct{ key, secret string }{{testAccessKey, "wrong-secret"}, {"nobody", testSecretKey}} {
		setCredentials(t, c.key, c.secret)
		_, err := Open(url, "")
		if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
			t.Errorf("key %s, secret %s: %v; want an error naming AWS_ACCESS_KEY_ID", c.key, c.secret, err)
		}
	}
	// A store opened with good credentials still refuses a missing bucket.
	setCredentials(t, testAccessKey, testSecretKey)
	if _, err := Open("s3://no-such-bucket?endpoint="+weed.srv.Endpoint, ""); err == nil {
		t.Error("a missing bucket opened")
	}
}

func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{"", "file://" + dir + "/other"} {
		s, err := Open(u, filepath.Join(dir, "media"))
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if _, ok := s.(*Local); !ok {
			t.Errorf("Open(%q) = %T, want *Local", u, s)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "other")); err != nil {
		t.Errorf("file:// did not make its directory: %v", err)
	}
	for _, u := range []string{
		"ftp://host/x", "s3://", "s3://b?endpoint=localhost:9000", "s3://b?bucket=x", "s3://b/prefix",
		"s3://key:secret@b", "file://host/x", "file://", "file:///x?y=1",
	} {
		if _, err := Open(u, dir); err == nil {
			t.Errorf("Open(%q) worked", u)
		}
	}
}

// TestCopy moves a library from a local directory to S3, interrupted and
// resumed, then back again.
func TestCopy(t *testing.T) {
	ctx := context.Background()
	defer func(n int) { copyPage = n }(copyPage)
	copyPage = 2 // pages end mid-library

	local, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for i := range 7 {
		key := fmt.Sprintf("images/%02d.jpg", i)
		files[key] = randomBytes(1000*i, uint64(i))
		if i == 3 {
			files[key] = randomBytes(6<<20, 3) // multipart to S3
		}
		if _, err := local.Put(ctx, key, bytes.NewReader(files[key])); err != nil {
			t.Fatal(err)
		}
	}
	keys := slices.Sorted(maps.Keys(files))
	keys = append(keys, "images/99-lost.jpg") // a row whose file is gone
	list := func(ctx context.Context, after string, limit int) ([]string, error) {
		i, _ := slices.BinarySearch(keys, after)
		if i < len(keys) && keys[i] == after {
			i++
		}
		return keys[i:min(i+limit, len(keys))], nil
	}
	remote := openS3(t)

	// Interrupted (as by Ctrl-C) after three files.
	cctx, cancel := context.WithCancel(ctx)
	st, err := Copy(cctx, local, remote, list, func(key string, st CopyStats, err error) {
		if st.Copied == 3 {
			cancel()
		}
	})
	cancel()
	if !errors.Is(err, context.Canceled) || st.Copied != 3 {
		t.Fatalf("interrupted copy: %+v, %v", st, err)
	}
	present := 0
	for _, k := range keys {
		if _, err := remote.Stat(ctx, k); err == nil {
			present++
		}
	}
	if present != 3 {
		t.Fatalf("%d files in the target after copying 3", present)
	}

	st, err = Copy(ctx, local, remote, list, nil)
	if err != nil || st != (CopyStats{Copied: 4, Skipped: 3, Missing: 1, Bytes: st.Bytes}) {
		t.Fatalf("resumed copy: %+v, %v; want 4 copied, 3 skipped, 1 missing", st, err)
	}
	st, err = Copy(ctx, local, remote, list, nil)
	if err != nil || st.Copied != 0 || st.Skipped != 7 {
		t.Fatalf("copy of a copied library: %+v, %v", st, err)
	}

	back, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, err = Copy(ctx, remote, back, list, nil)
	if err != nil || st.Copied != 7 || st.Missing != 1 {
		t.Fatalf("copy back: %+v, %v", st, err)
	}
	var total int64
	for k, want := range files {
		total += int64(len(want))
		if got := readAll(t, back, k); !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes back, want %d", k, len(got), len(want))
		}
	}
	if st.Bytes != total {
		t.Errorf("copied %d bytes, want %d", st.Bytes, total)
	}
}
