package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"html"
	"image"
	"image/png"
	"io"
	"io/fs"
	"mime/multipart"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"captionai/app"
	"captionai/config"
	"captionai/testutil"
)

// server is a running app on a test database.
type server struct {
	URL      string
	DBURL    string
	MediaDir string
	app      *app.App
}

type opts struct {
	roles    app.Roles
	dbURL    string // share a database between two processes
	mediaDir string
	tweak    func(*config.Config)
}

// start opens and runs an app until the test ends.
func start(t testing.TB, o opts) *server {
	t.Helper()
	if o.dbURL == "" {
		_, o.dbURL = testutil.NewDB(t)
	}
	if o.mediaDir == "" {
		o.mediaDir = t.TempDir()
	}
	// What an operator gets by default, plus what the tests need.
	cfg := config.Defaults()
	cfg.DatabaseURL, cfg.MediaDir = o.dbURL, o.mediaDir
	cfg.ModelDir, cfg.ORTLib = testutil.TinyModel(t), testutil.ORTLib(t)
	cfg.Workers, cfg.JobTimeout, cfg.RescueAfter = 2, 30*time.Second, time.Minute
	cfg.GuestUploads = 1000
	if o.tweak != nil {
		o.tweak(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Open(ctx, cfg, o.roles, testutil.Logger(t))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var ln net.Listener
	s := &server{DBURL: o.dbURL, MediaDir: o.mediaDir, app: a}
	if o.roles.Web {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.URL = "http://" + ln.Addr().String()
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		a.Close()
	})
	return s
}

var both = app.Roles{Web: true, Worker: true}

type file struct {
	name string
	data []byte
}

// post sends files in the "image" field; hdr adds request headers.
func post(t testing.TB, url string, files []file, hdr map[string]string) *http.Response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range files {
		fw, err := mw.CreateFormFile("image", f.name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(f.data)
	}
	mw.Close()
	req, err := http.NewRequest("POST", url+"/images", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

type imageJSON struct {
	ID, Status    string
	Caption       *string
	Model         *string
	Error         *string
	CaptionSource *string `json:"caption_source"`
}

func getJSON(t testing.TB, url string) imageJSON {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	var v imageJSON
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

type event struct{ name, data string }

// events reads server-sent events from url until the stream ends or a
// "done" event arrives.
func events(t testing.TB, url string, timeout time.Duration) []event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, res.Header.Get("Content-Type"))
	}
	var out []event
	var cur event
	sc := bufio.NewScanner(res.Body)
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
				if cur.name == "done" {
					return out
				}
			}
			cur = event{}
		}
	}
	t.Fatalf("event stream %s ended without done (err %v) after %d events", url, sc.Err(), len(out))
	return nil
}

func location(t testing.TB, res *http.Response, prefix string) string {
	t.Helper()
	if res.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("status %d, want 303; body: %.400s", res.StatusCode, b)
	}
	loc := res.Header.Get("Location")
	if !strings.HasPrefix(loc, prefix) {
		t.Fatalf("Location %q, want prefix %q", loc, prefix)
	}
	return strings.TrimPrefix(loc, prefix)
}

func TestUploadCaptionArrivesOverSSE(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})

	id := location(t, post(t, s.URL, []file{{"beach.jpg", testutil.JPEG(t, 64, 48)}}, nil), "/images/")
	evs := events(t, s.URL+"/images/"+id+"/events", 30*time.Second)

	// One vocabulary: the image's own event, then done.
	for _, e := range evs {
		if e.name != "image-"+id && e.name != "done" {
			t.Fatalf("unexpected event %q on the image stream", e.name)
		}
	}
	last := evs[len(evs)-2] // the one before done
	if last.name != "image-"+id || !strings.Contains(last.data, `class="caption"`) {
		t.Fatalf("last event before done is %q: %s", last.name, last.data)
	}

	got := getJSON(t, s.URL+"/images/"+id)
	if got.Status != "captioned" || got.Caption == nil || *got.Caption == "" || got.Model == nil || *got.Model != "tiny-random" {
		t.Fatalf("json = %+v", got)
	}
	if !strings.Contains(last.data, htmlEscape(*got.Caption)) {
		t.Fatalf("caption event %q does not hold caption %q", last.data, *got.Caption)
	}

	// A stream opened after the fact sends the final state at once.
	again := events(t, s.URL+"/images/"+id+"/events", 5*time.Second)
	if len(again) != 2 || again[0].name != "image-"+id {
		t.Fatalf("late stream: %+v", again)
	}

	res, err := http.Get(s.URL + "/images/" + id + "/file")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Type") != "image/jpeg" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("file headers: %v", res.Header)
	}
}

func htmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;")
	return r.Replace(s)
}

// batchEvents reads a batch's event stream to its end and returns its
// events and each image's last card, failing unless n images had one.
func batchEvents(t *testing.T, url string, n int) ([]event, map[string]string) {
	t.Helper()
	evs := events(t, url, 30*time.Second)
	final := map[string]string{}
	for _, e := range evs {
		if strings.HasPrefix(e.name, "image-") {
			final[e.name] = e.data
		}
	}
	if len(final) != n {
		t.Fatalf("events for %d images, want %d: %v", len(final), n, evs)
	}
	return evs, final
}

func TestSeveralFilesGoToABatchPage(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	files := []file{{"a.jpg", testutil.JPEG(t, 40, 30)}, {"b.jpg", testutil.JPEG(t, 30, 40)}, {"c.jpg", testutil.JPEG(t, 50, 50)}}
	batch := location(t, post(t, s.URL, files, nil), "/batches/")

	_, final := batchEvents(t, s.URL+"/batches/"+batch+"/events", 3)
	for name, data := range final {
		if !strings.Contains(data, `data-status="captioned"`) {
			t.Errorf("%s ended as %s", name, data)
		}
	}
	res, err := http.Get(s.URL + "/batches/" + batch)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, f := range files {
		if !bytes.Contains(body, []byte(f.name)) {
			t.Errorf("batch page does not list %s", f.name)
		}
	}
	if bytes.Contains(body, []byte("to see new captions")) {
		t.Error("a finished batch's page still asks to refresh for new captions")
	}
}

// A photo larger than its view size is not shown at full size while its
// sizes are made: its card is a placeholder of its shape, and the stream
// stays open past the caption until the card with its sizes arrives.
func TestBatchStreamWaitsForDisplaySizes(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	files := []file{{"phone.jpg", testutil.JPEG(t, 2400, 1800)}, {"small.jpg", testutil.JPEG(t, 64, 48)}}
	batch := location(t, post(t, s.URL, files, nil), "/batches/")

	evs, final := batchEvents(t, s.URL+"/batches/"+batch+"/events", 2)
	for _, e := range evs {
		if strings.Contains(e.data, `phone.jpg`) && strings.Contains(e.data, `/file"`) {
			t.Errorf("the phone photo's card shows its original: %s", e.data)
		}
	}
	for name, data := range final {
		if !strings.Contains(data, `data-status="captioned"`) || !strings.Contains(data, "srcset=") || strings.Contains(data, "data:image/svg") {
			t.Errorf("%s ended as %s", name, data)
		}
	}
}

func TestHTMXUploadSwapsInPlace(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	res := post(t, s.URL, []file{{"x.jpg", testutil.JPEG(t, 32, 32)}}, map[string]string{"HX-Request": "true"})
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	if bytes.Contains(body, []byte("<html")) || !bytes.Contains(body, []byte("sse-connect")) {
		t.Fatalf("want a fragment with an event stream, got: %s", body)
	}
}

// countRows and countFiles show that a refused upload left nothing behind.
func countRows(t testing.TB, s *server) int {
	t.Helper()
	var n int
	if err := s.app.Pool.QueryRow(context.Background(), "SELECT count(*) FROM images").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func countFiles(t testing.TB, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// hugePNG is a PNG header claiming 20000×20000 pixels: enough for
// DecodeConfig, which is all the server may look at before refusing it.
func hugePNG() []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := []byte{0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20, 8, 2, 0, 0, 0}
	chunk := func(typ string, data []byte) {
		var l [4]byte
		l[0], l[1], l[2], l[3] = byte(len(data)>>24), byte(len(data)>>16), byte(len(data)>>8), byte(len(data))
		b.Write(l[:])
		b.WriteString(typ)
		b.Write(data)
		crc := crc32.ChecksumIEEE(append([]byte(typ), data...))
		b.Write([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	}
	chunk("IHDR", ihdr)
	chunk("IEND", nil)
	return b.Bytes()
}

func TestBadUploadsAreRefusedClearly(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	good := testutil.JPEG(t, 16, 16)
	big := make([]byte, 50<<20)
	copy(big, good)
	thirty := make([]file, 30)
	for i := range thirty {
		thirty[i] = file{fmt.Sprintf("p%02d.jpg", i), good}
	}

	cases := []struct {
		name   string
		files  []file
		status int
		want   string
	}{
		{"empty file", []file{{"empty.jpg", nil}}, 422, "the file is empty"},
		{"text named .jpg", []file{{"notes.jpg", []byte("just some text, not a photo\n")}}, 422, "not a JPEG, PNG, GIF or WebP"},
		{"huge PNG", []file{{"huge.png", hugePNG()}}, 422, "20000×20000 pixels (400 megapixels); the limit is 50 megapixels"},
		{"50 MB file", []file{{"big.jpg", big}}, 413, "the limit is 20 MB"},
		{"30 files", thirty, 413, "You chose 30 files; at most 20"},
		{"no file", nil, 400, "Choose at least one image"},
		{"one bad among good", []file{{"ok.jpg", good}, {"bad.gif", []byte("GIF89a")}}, 422, "1 of 2 files can't be used"},
	}
	for _, c := range cases {
		for _, mode := range []string{"html", "json", "htmx"} {
			hdr := map[string]string{}
			switch mode {
			case "json":
				hdr["Accept"] = "application/json"
			case "htmx":
				hdr["HX-Request"] = "true"
			}
			res := post(t, s.URL, c.files, hdr)
			body, _ := io.ReadAll(res.Body)
			text := string(body)
			if mode != "json" {
				text = html.UnescapeString(text)
			}
			if res.StatusCode != c.status || !strings.Contains(text, c.want) {
				t.Errorf("%s (%s): status %d, want %d with %q; body: %.300s", c.name, mode, res.StatusCode, c.status, c.want, body)
			}
		}
	}
	if n := countRows(t, s); n != 0 {
		t.Errorf("%d image rows left behind", n)
	}
	if n := countFiles(t, s.MediaDir); n != 0 {
		t.Errorf("%d files left behind in the media directory", n)
	}
	// Still serving.
	if res, err := http.Get(s.URL + "/healthz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("server down after bad uploads: %v", err)
	}
}

// brokenPNG is a PNG whose structure is whole (chunks, CRCs) but whose
// compressed pixels are garbage: only decoding finds out.
func brokenPNG(t testing.TB) []byte {
	var b bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	png.Encode(&b, img)
	data := b.Bytes()
	i := bytes.Index(data, []byte("IDAT"))
	n := int(binary.BigEndian.Uint32(data[i-4:]))
	for j := i + 4 + 2; j < i+4+n; j++ { // keep the zlib header
		data[j] ^= 0x5a
	}
	binary.BigEndian.PutUint32(data[i+4+n:], crc32.ChecksumIEEE(data[i:i+4+n]))
	return data
}

// A truncated JPEG is refused at once; a file that only decoding finds
// damaged fails in the worker, with the reason.
func TestDamagedImagesFailWithReason(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	full := testutil.JPEG(t, 320, 240)
	res := post(t, s.URL, []file{{"cut.jpg", full[:len(full)*6/10]}}, map[string]string{"Accept": "application/json"})
	if body, _ := io.ReadAll(res.Body); res.StatusCode != http.StatusUnprocessableEntity || !bytes.Contains(body, []byte("damaged or incomplete")) {
		t.Fatalf("truncated JPEG: %d %s", res.StatusCode, body)
	}
	id := location(t, post(t, s.URL, []file{{"broken.png", brokenPNG(t)}}, nil), "/images/")
	events(t, s.URL+"/images/"+id+"/events", 30*time.Second)
	got := getJSON(t, s.URL+"/images/"+id)
	if got.Status != "failed" || got.Error == nil || !strings.Contains(*got.Error, "truncated or damaged") || got.CaptionSource != nil {
		t.Fatalf("json = %+v", got)
	}
	// The image fails first; River records the cancellation just after.
	var state string
	for range 50 {
		if err := s.app.Pool.QueryRow(context.Background(),
			"SELECT j.state FROM river_job j JOIN images i ON i.job_id = j.id WHERE i.id = $1", id).Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "cancelled" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if state != "cancelled" {
		t.Fatalf("job state %s, want cancelled", state)
	}
	res, _ = http.Get(s.URL + "/images/" + id)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Contains(body, []byte("truncated or damaged")) {
		t.Fatalf("the page does not show the reason")
	}

	// A well-formed 40-byte GIF whose one-pixel frame lies far outside its
	// 48x304 screen (libvips would make it a 14385x8194 canvas) fails too.
	far := []byte("GIF89a0\x000\x01\x80\x00\x00\x00\x00\x00\xff\xff\xff,08\x01 \x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
	id = location(t, post(t, s.URL, []file{{"far.gif", far}}, nil), "/images/")
	events(t, s.URL+"/images/"+id+"/events", 30*time.Second)
	if got := getJSON(t, s.URL+"/images/"+id); got.Status != "failed" || got.Error == nil || !strings.Contains(*got.Error, "frame bounds") {
		t.Fatalf("far-frame GIF: json = %+v", got)
	}
}

// Web and worker as separate processes sharing only the database: the web
// side hears of the caption through LISTEN/NOTIFY.
func TestSeparateWebAndWorker(t *testing.T) {
	t.Parallel()
	_, dbURL := testutil.NewDB(t)
	media := t.TempDir()
	web := start(t, opts{roles: app.Roles{Web: true}, dbURL: dbURL, mediaDir: media})
	start(t, opts{roles: app.Roles{Worker: true}, dbURL: dbURL, mediaDir: media})

	id := location(t, post(t, web.URL, []file{{"a.jpg", testutil.JPEG(t, 48, 48)}}, nil), "/images/")
	evs := events(t, web.URL+"/images/"+id+"/events", 30*time.Second)
	if !strings.Contains(evs[len(evs)-2].data, `data-status="captioned"`) {
		t.Fatalf("events: %+v", evs)
	}
	res, _ := http.Get(web.URL + "/readyz")
	if res.StatusCode != 200 {
		t.Fatalf("web readyz %d", res.StatusCode)
	}
}

// orphanedUpload uploads a photo through web (with no worker running) and
// leaves its job as a worker killed with -9 mid-job does: running, its
// image "captioning".
func orphanedUpload(t *testing.T, web *server) string {
	t.Helper()
	id := location(t, post(t, web.URL, []file{{"a.jpg", testutil.JPEG(t, 48, 48)}}, nil), "/images/")
	_, err := web.app.Pool.Exec(context.Background(), `
		WITH j AS (UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() - interval '1 minute',
		                  attempted_by = ARRAY['dead-worker']
		           WHERE id = (SELECT job_id FROM images WHERE id = $1) RETURNING id)
		UPDATE images SET status = 'captioning' WHERE id = $1`, id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A worker killed mid-job leaves its job running and its image
// "captioning". River's rescuer must hand the job to a live worker, which
// captions the image exactly once.
func TestJobOfCrashedWorkerRunsAgain(t *testing.T) {
	t.Parallel()
	_, dbURL := testutil.NewDB(t)
	media := t.TempDir()
	web := start(t, opts{roles: app.Roles{Web: true}, dbURL: dbURL, mediaDir: media})
	id := orphanedUpload(t, web)
	start(t, opts{roles: app.Roles{Worker: true}, dbURL: dbURL, mediaDir: media, tweak: func(c *config.Config) {
		c.JobTimeout, c.RescueAfter = 5*time.Second, 10*time.Second
	}})
	evs := events(t, web.URL+"/images/"+id+"/events", 60*time.Second)
	captions := 0
	for _, e := range evs {
		if strings.Contains(e.data, `data-status="captioned"`) && e.name == "image-"+id {
			captions++
		}
	}
	if captions != 1 {
		t.Fatalf("%d captioned events, want 1: %+v", captions, evs)
	}
	var attempt int
	var state string
	web.app.Pool.QueryRow(context.Background(), "SELECT j.state, j.attempt FROM river_job j JOIN images i ON i.job_id = j.id WHERE i.id = $1", id).Scan(&state, &attempt)
	if state != "completed" || attempt != 2 {
		t.Fatalf("job %s at attempt %d, want completed at attempt 2", state, attempt)
	}
}

func TestStartupErrorsSayWhatIsMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Config{ORTLib: testutil.ORTLib(t), ModelDir: dir}
	if _, err := app.LoadModel(cfg, 1); err == nil || !strings.Contains(err.Error(), "has no onnx/encoder_model.onnx") ||
		!strings.Contains(err.Error(), "MODEL_DIR") {
		t.Fatalf("err = %v", err)
	}
	cfg = config.Config{ORTLib: "/nonexistent/libonnxruntime.so", ModelDir: testutil.TinyModel(t)}
	if _, err := app.LoadModel(cfg, 1); err == nil || !strings.Contains(err.Error(), "ORT_LIB") || !strings.Contains(err.Error(), "go tool task ort") {
		t.Fatalf("err = %v", err)
	}
}

func TestHealthAndNotFound(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	for path, want := range map[string]int{
		"/healthz": 200, "/readyz": 200, "/": 200,
		"/images/not-a-uuid": 404, "/images/6f1c1f4e-0000-4000-8000-000000000000": 404,
		"/images/6f1c1f4e-0000-4000-8000-000000000000/file":   404,
		"/images/6f1c1f4e-0000-4000-8000-000000000000/events": 404,
		"/batches/6f1c1f4e-0000-4000-8000-000000000000":       404,
		"/static/vendor/htmx-2.0.11.min.js":                   200,
	} {
		res, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
}

func TestJSONUpload(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	res := post(t, s.URL, []file{{"a.jpg", testutil.JPEG(t, 20, 20)}}, map[string]string{"Accept": "application/json"})
	var got struct {
		BatchID string `json:"batch_id"`
		Images  []struct {
			ID        string    `json:"id"`
			Status    string    `json:"status"`
			CreatedAt time.Time `json:"created_at"`
		} `json:"images"`
	}
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusCreated || len(got.Images) != 1 || got.Images[0].Status != "queued" ||
		time.Since(got.Images[0].CreatedAt) > time.Minute || got.BatchID == "" {
		t.Fatalf("%d %+v", res.StatusCode, got)
	}
	res = post(t, s.URL, []file{{"x.jpg", []byte("text")}}, map[string]string{"Accept": "application/json"})
	var refused struct {
		Error string
		Files []struct{ Name, Error string }
	}
	json.NewDecoder(res.Body).Decode(&refused)
	if res.StatusCode != 422 || len(refused.Files) != 1 || refused.Files[0].Name != "x.jpg" || refused.Files[0].Error == "" {
		t.Fatalf("%d %+v", res.StatusCode, refused)
	}
}
