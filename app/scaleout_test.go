package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"

	"captionai/jobs"
	"captionai/testutil"
	"captionai/testutil/seaweedfs"
)

// TestScaleOut runs the deployment the README's "Scale-out" shows, with
// the real binary: two `captionai web` and two `captionai worker`
// processes on one Postgres database and one S3 server (SeaweedFS), and
// nothing else shared (each has a MEDIA_DIR of its own, which stays
// empty). A guest uploads through web A and watches the captions arrive
// over SSE on web B, which also serves the photos' display sizes and
// originals from S3. Worker 1, River's leader, is killed with -9 while it
// holds a caption job: worker 2 takes over the leadership, River's rescuer
// hands it the orphaned job, and every image ends with exactly one
// caption.
//
// A job is caught mid-flight with the one step whose length the test can
// set: the remote caption engine (CAPTION_ENGINE_URL), a local server here
// that holds each request until the test lets go and then answers 503, so
// that the tiny test model writes the caption at once (the fallback).
func TestScaleOut(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	weedBin := seaweedfs.Bin(testutil.RepoRoot(t))
	if _, err := os.Stat(weedBin); err != nil {
		t.Skipf("the scale-out test needs SeaweedFS at %s: build it with `go tool task seaweedfs` (a dependency of `go tool task test`)", weedBin)
	}
	ortLib, model := testutil.ORTLib(t), testutil.TinyModel(t)
	pool, dbURL := testutil.NewDB(t)

	exe := filepath.Join(t.TempDir(), "captionai")
	buildErr := make(chan error, 1)
	go func() { buildErr <- buildBinary(testutil.RepoRoot(t), exe) }() // while SeaweedFS starts
	weed := startSeaweedFS(t, weedBin)
	if err := <-buildErr; err != nil {
		t.Fatal(err)
	}
	t.Logf("binary built and S3 up after %s", time.Since(begin).Round(time.Millisecond))

	gate := newEngineGate(t)
	none := filepath.Join(t.TempDir(), "none")
	env := map[string]string{
		"DATABASE_URL": dbURL, "STORAGE_URL": weed.url,
		"AWS_ACCESS_KEY_ID": seaweedfs.AccessKey, "AWS_SECRET_ACCESS_KEY": seaweedfs.SecretKey, "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"MODEL_DIR": model, "MODELS": "", "ORT_LIB": ortLib, "NSFW_MODEL": "off",
		"CAPTION_ENGINE_URL": "ollama+" + gate.URL, "CAPTION_ENGINE_MODEL": "gate", "CAPTION_ENGINE_TIMEOUT": "5s",
		// One caption job at a time per worker. A job running longer than
		// RESCUE_AFTER is taken for orphaned: short, so that the killed
		// worker's job is old enough when the new leader's rescuer first
		// looks (its lease lapses 10-15 s after the kill; the next look is
		// 30 s later). JOB_TIMEOUT must be shorter, so no live job is taken
		// for orphaned; the gate holds jobs (about a second) well within
		// CAPTION_ENGINE_TIMEOUT, shorter still.
		"WORKERS": "1", "THREADS_PER_JOB": "1", "JOB_TIMEOUT": "6s", "RESCUE_AFTER": "7s",
		"GUEST_UPLOADS_PER_HOUR": "1000", "ADDR": "127.0.0.1:0",
		"METRICS_ADDR": "", "SMTP_URL": "", "ADMIN_EMAILS": "", "TRUSTED_PROXIES": "", "PUBLIC_URL": "",
	}

	// Worker 1 first, so that it is River's leader (the rescuer runs on
	// the leader only): killing it shows the leadership move too.
	w1 := startProc(t, exe, "worker 1", "worker", env)
	w1.waitReady(t)
	leader := pollUntil(t, 30*time.Second, "a River leader", func() (string, bool) {
		var id string
		err := pool.QueryRow(context.Background(), "SELECT leader_id FROM river_leader").Scan(&id)
		return id, err == nil
	})
	w2 := startProc(t, exe, "worker 2", "worker", env)
	webA := startProc(t, exe, "web A", "web", env)
	webB := startProc(t, exe, "web B", "web", env)
	for _, p := range []*proc{w2, webA, webB} {
		p.waitReady(t)
	}
	t.Logf("4 processes up after %s; leader %s", time.Since(begin).Round(time.Millisecond), leader)

	// A guest uploads 6 private photos through web A in one request, and
	// follows them on web B with the same session cookie (sessions are in
	// Postgres); a stranger there sees nothing.
	guestA := testutil.NewVisitor(t, webA.url)
	guestB := &testutil.Visitor{T: t, Base: webB.url, Client: guestA.Client} // the same browser
	const n = 6
	ids := uploadJSON(t, guestA, n)
	if len(ids) != n {
		t.Fatalf("upload made %d images, want %d", len(ids), n)
	}
	if code, _ := testutil.NewVisitor(t, webB.url).Get("/images/" + ids[0]); code != http.StatusNotFound {
		t.Fatalf("a stranger on web B gets %d for a private image, want 404", code)
	}

	// Web B never saw the upload: its streams hear of the captions through
	// Postgres (the workers' pg_notify, its LISTEN).
	type stream struct {
		evs []event
		err error
	}
	streams := make(map[string]*stream, n)
	var wg, opened sync.WaitGroup
	for _, id := range ids {
		s := &stream{}
		streams[id] = s
		opened.Add(1)
		wg.Go(func() {
			s.evs, s.err = readEvents(guestB.Client, webB.url+"/images/"+id+"/events", 75*time.Second, opened.Done)
		})
	}
	opened.Wait() // each has had its first event, the state before any caption

	// Both workers hold a job at the engine: worker 1's is mid-flight.
	gate.waitHeld(t, 2, 30*time.Second)
	running := map[string]string{} // client id → image id
	rows, err := pool.Query(context.Background(), `
		SELECT j.attempted_by[array_length(j.attempted_by, 1)], i.id::text
		FROM river_job j JOIN images i ON i.job_id = j.id WHERE j.queue = $1 AND j.state = 'running'`, jobs.CaptionQueue)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var by, id string
		if err := rows.Scan(&by, &id); err != nil {
			t.Fatal(err)
		}
		running[by] = id
	}
	rows.Close()
	orphan, ok := running[leader]
	if len(running) != 2 || !ok {
		t.Fatalf("running caption jobs by worker: %v; want one each, one by the leader %s", running, leader)
	}
	w1.kill(t)
	killedAt := time.Now()
	t.Logf("killed worker 1 (pid %d) mid-job on image %s after %s", w1.cmd.Process.Pid, orphan, time.Since(begin).Round(time.Millisecond))
	gate.release()

	wg.Wait()
	t.Logf("every stream on web B done %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	for _, id := range ids {
		s := streams[id]
		if s.err != nil {
			t.Fatalf("stream of %s on web B: %v", id, s.err)
		}
		captioned := 0
		for _, e := range s.evs {
			if e.name == "image-"+id && strings.Contains(e.data, `data-status="captioned"`) {
				captioned++
			}
		}
		// The first event is the state when the stream opened, before any
		// caption; the caption came later, live.
		if captioned != 1 || strings.Contains(s.evs[0].data, `data-status="captioned"`) {
			t.Errorf("image %s: %d captioned events on web B, first %.200q; want one, after the stream opened", id, captioned, s.evs[0].data)
		}
	}

	// Each image is captioned once, by the tiny model (the engine's
	// fallback), and every job completed: the orphan on its second attempt,
	// by worker 2.
	var w2ID string
	for by := range running {
		if by != leader {
			w2ID = by
		}
	}
	for _, id := range ids {
		var got imageJSON
		if code, body := guestB.Get("/images/"+id, "Accept", "application/json"); code != 200 || json.Unmarshal([]byte(body), &got) != nil {
			t.Fatalf("JSON of %s on web B: %d %.300s", id, code, body)
		}
		if got.Status != "captioned" || got.Model == nil || !strings.HasPrefix(*got.Model, "tiny-random") {
			t.Errorf("image %s on web B: %+v, want captioned by tiny-random", id, got)
		}
		var versions, attempt int
		var state string
		var by []string
		err := pool.QueryRow(context.Background(), `
			SELECT (SELECT count(*) FROM caption_versions v WHERE v.image_id = i.id), j.state, j.attempt, j.attempted_by
			FROM images i JOIN river_job j ON j.id = i.job_id WHERE i.id = $1`, id).Scan(&versions, &state, &attempt, &by)
		if err != nil {
			t.Fatal(err)
		}
		wantAttempt, wantBy := 1, []string{w2ID}
		if id == orphan {
			wantAttempt, wantBy = 2, []string{leader, w2ID}
		}
		if versions != 1 || state != "completed" || attempt != wantAttempt || strings.Join(by, ",") != strings.Join(wantBy, ",") {
			t.Errorf("image %s: %d caption versions, job %s at attempt %d by %v; want 1, completed at attempt %d by %v",
				id, versions, state, attempt, by, wantAttempt, wantBy)
		}
	}
	var newLeader string
	pool.QueryRow(context.Background(), "SELECT leader_id FROM river_leader").Scan(&newLeader)
	if newLeader != w2ID {
		t.Errorf("River's leader is %q, want worker 2 (%s)", newLeader, w2ID)
	}

	// Web B serves each photo's display sizes and original, from S3. The
	// derive jobs the captions queued make the sizes.
	sizeURL := regexp.MustCompile(`/images/[0-9a-f-]{36}/sizes/(card|view)-[0-9a-f]{32}\.webp`)
	for _, id := range ids {
		for deadline := time.Now().Add(30 * time.Second); len(derivativesOf(t, pool, id)) < 2 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, id := range ids {
		code, page := guestB.Get("/images/" + id)
		if code != 200 {
			t.Fatalf("image page %s on web B: %d", id, code)
		}
		derivs := derivativesOf(t, pool, id)
		if len(derivs) != 2 {
			t.Fatalf("image %s has %d derivatives, want card and view", id, len(derivs))
		}
		urls := map[string]bool{}
		for _, u := range sizeURL.FindAllString(page, -1) {
			urls[u] = true
		}
		for kind, d := range derivs {
			u := "/images/" + id + "/sizes/" + kind + "-" + d.sha[:32] + ".webp"
			if !urls[u] {
				t.Errorf("image page %s on web B does not link %s (links %v)", id, u, urls)
			}
			body, hdr := fetch(t, guestB, u)
			sum := sha256.Sum256(body)
			if hdr.Get("Content-Type") != "image/webp" || hex.EncodeToString(sum[:]) != d.sha || !bytes.Equal(body, weed.object(t, d.key)) {
				t.Errorf("%s from web B: %s, %d bytes, not the derivative in S3", u, hdr.Get("Content-Type"), len(body))
			}
		}
		var key string
		pool.QueryRow(context.Background(), "SELECT storage_key FROM images WHERE id = $1", id).Scan(&key)
		body, hdr := fetch(t, guestB, "/images/"+id+"/file")
		if hdr.Get("Content-Type") != "image/jpeg" || !bytes.Equal(body, weed.object(t, key)) {
			t.Errorf("original of %s from web B: %s, %d bytes, not the object in S3", id, hdr.Get("Content-Type"), len(body))
		}
	}
	for _, p := range []*proc{w1, w2, webA, webB} {
		if n := countFiles(t, p.mediaDir); n != 0 {
			t.Errorf("%s wrote %d files to its MEDIA_DIR, want all in S3", p.name, n)
		}
	}
	t.Logf("done after %s", time.Since(begin).Round(time.Millisecond))
}

// buildBinary builds the captionai command into exe, with -race when the
// tests have it, so that the packages built for the tests are reused.
func buildBinary(root, exe string) error {
	args := []string{"build", "-o", exe}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

// proc is one captionai process, its log kept for when the test fails.
type proc struct {
	name, role, url, mediaDir string
	cmd                       *exec.Cmd
	log                       lockedBuffer
	ready, exited             chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listening = regexp.MustCompile(`msg=listening url=(http://\S+)`)

// startProc starts `captionai ROLE` with env on top of the test's own
// environment, and a MEDIA_DIR and DATA_DIR of its own. It is stopped
// with SIGTERM when the test ends.
func startProc(t *testing.T, exe, name, role string, env map[string]string) *proc {
	t.Helper()
	p := &proc{name: name, role: role, mediaDir: t.TempDir(), ready: make(chan struct{}), exited: make(chan struct{})}
	p.cmd = exec.Command(exe, role)
	p.cmd.Dir = testutil.RepoRoot(t)
	p.cmd.Env = os.Environ() // the last of a repeated name counts
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Env = append(p.cmd.Env, "MEDIA_DIR="+p.mediaDir, "DATA_DIR="+t.TempDir())
	p.cmd.Stdout = &p.log
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(&p.log, line)
			if m := listening.FindStringSubmatch(line); m != nil && role == "web" {
				p.url = m[1]
				once.Do(func() { close(p.ready) })
			}
			if strings.Contains(line, `msg="workers started"`) && role == "worker" {
				once.Do(func() { close(p.ready) })
			}
		}
		io.Copy(io.Discard, stderr)
		p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		stopping := time.Now()
		defer func() { t.Logf("%s stopped in %s", p.name, time.Since(stopping).Round(time.Millisecond)) }()
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop in 30 s after SIGTERM", p.name)
				p.cmd.Process.Kill()
				<-p.exited
			}
		}
		if t.Failed() {
			t.Logf("%s's log:\n%s", p.name, tail(p.log.String(), 6000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// waitReady waits for a web process to listen, or a worker to start its
// River client.
func (p *proc) waitReady(t *testing.T) {
	t.Helper()
	select {
	case <-p.ready:
	case <-p.exited:
		t.Fatalf("%s exited (%s):\n%s", p.name, p.cmd.ProcessState, tail(p.log.String(), 6000))
	case <-time.After(60 * time.Second):
		t.Fatalf("%s not ready after 60 s:\n%s", p.name, tail(p.log.String(), 6000))
	}
}

// kill kills the process with SIGKILL, as the OOM killer or a lost
// machine would: it does nothing more, not even roll back its job.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s ended with %s, not SIGKILL", p.name, p.cmd.ProcessState)
	}
}

func pollUntil[T any](t *testing.T, d time.Duration, what string, f func() (T, bool)) T {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if v, ok := f(); ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// engineGate is an Ollama stand-in that holds every caption request until
// release, then answers 503: the worker's engine is "unreachable", and
// MODEL_DIR's model captions at once in the same attempt.
type engineGate struct {
	URL  string
	held atomic.Int64 // requests waiting now
	open chan struct{}
	once sync.Once
}

func newEngineGate(t *testing.T) *engineGate {
	g := &engineGate{open: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		g.held.Add(1)
		defer g.held.Add(-1)
		select {
		case <-g.open:
			http.Error(w, "the test's engine stands aside", http.StatusServiceUnavailable)
		case <-r.Context().Done(): // a killed worker
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { g.release(); srv.Close() })
	g.URL = "http://" + ln.Addr().String()
	return g
}

func (g *engineGate) release() { g.once.Do(func() { close(g.open) }) }

func (g *engineGate) waitHeld(t *testing.T, n int64, d time.Duration) {
	t.Helper()
	pollUntil(t, d, fmt.Sprintf("%d caption requests at the engine", n), func() (int64, bool) {
		h := g.held.Load()
		return h, h >= n
	})
}

// uploadJSON posts n photos in one request and returns the images' ids.
func uploadJSON(t *testing.T, v *testutil.Visitor, n int) []string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("visibility", "private") // only this guest's session sees them
	for i := range n {
		fw, _ := mw.CreateFormFile("image", fmt.Sprintf("photo-%d.jpg", i))
		fw.Write(testutil.JPEG(t, 640+8*i, 480)) // each its own bytes
	}
	mw.Close()
	req, _ := http.NewRequest("POST", v.Base+"/images", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	code, res, _ := v.Do(req)
	var got struct {
		Images []struct{ ID string }
	}
	if code != http.StatusCreated || json.Unmarshal([]byte(res), &got) != nil {
		t.Fatalf("upload: %d %.300s", code, res)
	}
	var ids []string
	for _, img := range got.Images {
		ids = append(ids, img.ID)
	}
	return ids
}

// readEvents is events for another goroutine: it returns its error.
// It calls first once, after the first event, or when it fails before.
func readEvents(c *http.Client, url string, timeout time.Duration, first func()) ([]event, error) {
	var once sync.Once
	defer once.Do(first)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		return nil, fmt.Errorf("GET %s: %d %s", url, res.StatusCode, res.Header.Get("Content-Type"))
	}
	var out []event
	var cur event
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if cur.data != "" {
				cur.data += "\n"
			}
			cur.data += strings.TrimPrefix(line, "data: ")
		case line == "":
			if cur.name != "" {
				out = append(out, cur)
				once.Do(first)
				if cur.name == "done" {
					return out, nil
				}
			}
			cur = event{}
		}
	}
	return out, fmt.Errorf("stream ended without done (%v) after %d events", sc.Err(), len(out))
}

type derivative struct{ sha, key string }

func derivativesOf(t *testing.T, pool *pgxpool.Pool, id string) map[string]derivative {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT kind, sha256, storage_key FROM image_derivatives WHERE image_id = $1", id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]derivative{}
	for rows.Next() {
		var kind string
		var d derivative
		if err := rows.Scan(&kind, &d.sha, &d.key); err != nil {
			t.Fatal(err)
		}
		out[kind] = d
	}
	return out
}

func fetch(t *testing.T, v *testutil.Visitor, path string) ([]byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", v.Base+path, nil)
	code, body, hdr := v.Do(req)
	if code != 200 {
		t.Fatalf("GET %s on %s: %d", path, v.Base, code)
	}
	return []byte(body), hdr
}

// seaweed is a SeaweedFS server with one bucket.
type seaweed struct {
	url    string // STORAGE_URL of the bucket
	bucket string
	client *s3.Client
}

func startSeaweedFS(t *testing.T, bin string) *seaweed {
	t.Helper()
	srv, err := seaweedfs.Start(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopping := time.Now()
		if t.Failed() {
			t.Logf("SeaweedFS's log:\n%s", srv.Log())
		}
		srv.Stop(0) // its data goes with the test
		t.Logf("SeaweedFS stopped in %s", time.Since(stopping).Round(time.Millisecond))
	})
	w := &seaweed{bucket: "captionai-scaleout", client: srv.Client()}
	if _, err := w.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &w.bucket}); err != nil {
		t.Fatal(err)
	}
	w.url = srv.URL(w.bucket)
	return w
}

// object reads one object straight from the bucket.
func (w *seaweed) object(t *testing.T, key string) []byte {
	t.Helper()
	out, err := w.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &w.bucket, Key: &key})
	if err != nil {
		t.Fatalf("S3 object %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
