package app_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"captionai/app"
	"captionai/config"
	"captionai/testutil"
)

func withMetrics(c *config.Config) { c.MetricsAddr = "127.0.0.1:0" }

// scrapeMetrics reads a Prometheus text page into series ("name{labels}") and
// their values.
func scrapeMetrics(t testing.TB, url string) map[string]float64 {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// waitMetrics scrapes until ok holds, or fails after timeout.
func waitMetrics(t testing.TB, url string, timeout time.Duration, what string, ok func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := scrapeMetrics(t, url)
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, still not %s; metrics:\n%s", timeout, what, ourSeries(m))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ourSeries lists the captionai_ series of m, for failure messages.
func ourSeries(m map[string]float64) string {
	var b strings.Builder
	for k, v := range m {
		if strings.HasPrefix(k, "captionai_") {
			b.WriteString(k + " " + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
		}
	}
	return b.String()
}

func TestMetricsOfAnUpload(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both, tweak: withMetrics})
	url := s.app.MetricsURL()
	if url == "" {
		t.Fatal("no MetricsURL with METRICS_ADDR set")
	}

	id := location(t, post(t, s.URL, []file{{"beach.jpg", testutil.JPEG(t, 64, 48)}}, nil), "/images/")
	events(t, s.URL+"/images/"+id+"/events", 30*time.Second)

	// River reports the completed job a moment after the caption's commit;
	// the derive job it queued makes the display sizes after that.
	m := waitMetrics(t, url, 10*time.Second, "counting the caption's stages", func(m map[string]float64) bool {
		return m[`captionai_caption_stage_seconds_count{stage="decoder"}`] >= 1 &&
			m[`captionai_caption_stage_seconds_count{stage="derivatives"}`] >= 1
	})
	for _, series := range []string{
		`captionai_http_request_duration_seconds_count{method="POST",route="/images",status="3xx"}`,
		`captionai_http_request_duration_seconds_count{method="GET",route="/images/{id}/events",status="2xx"}`,
		`captionai_caption_stage_seconds_count{stage="decode"}`,
		`captionai_caption_stage_seconds_count{stage="encoder"}`,
		`captionai_caption_stage_seconds_count{stage="decoder"}`,
		`captionai_caption_stage_seconds_count{stage="derivatives"}`,
		`captionai_jobs_total{kind="caption",outcome="completed"}`,
		`captionai_jobs_total{kind="derive",outcome="completed"}`,
		`captionai_queue_jobs{state="completed"}`,
	} {
		if m[series] < 1 {
			t.Errorf("%s = %v, want at least 1", series, m[series])
		}
	}
	for series, v := range m {
		if strings.Contains(series, "/images/"+id) {
			t.Errorf("a raw path became a label: %s %v", series, v)
		}
	}
	// Running jobs drop to 0 once those still in flight at the scrape are
	// done: the periodic jobs run at start, and the derive job, which River
	// marks completed a moment after its event (it has no JobCompleteTx).
	waitMetrics(t, url, 10*time.Second, "down to 0 running jobs in the queue depth", func(m map[string]float64) bool {
		v, ok := m[`captionai_queue_jobs{state="running"}`]
		return ok && v == 0
	})
	if v, ok := m["captionai_sse_clients"]; !ok || v != 0 {
		t.Errorf("captionai_sse_clients = %v (present %v) after the stream ended, want 0", v, ok)
	}
	if _, ok := m["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}

	res, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("GET /metrics on the app's port: %d, want 404", res.StatusCode)
	}
}

// A web process with no worker: a stream stays open (no caption comes),
// and the gauge counts it while it is.
func TestMetricsCountOpenStreams(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: app.Roles{Web: true}, tweak: withMetrics})
	url := s.app.MetricsURL()
	id := location(t, post(t, s.URL, []file{{"a.jpg", testutil.JPEG(t, 32, 32)}}, nil), "/images/")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/images/"+id+"/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("events: %d", res.StatusCode)
	}
	waitMetrics(t, url, 5*time.Second, "counting the open stream", func(m map[string]float64) bool {
		return m["captionai_sse_clients"] == 1
	})
	cancel()
	waitMetrics(t, url, 5*time.Second, "back to no streams", func(m map[string]float64) bool {
		return m["captionai_sse_clients"] == 0 && m[`captionai_queue_jobs{state="available"}`] == 1
	})
}

func TestMetricsOffByDefault(t *testing.T) {
	t.Parallel()
	if config.Defaults().MetricsAddr != "" {
		t.Fatal("METRICS_ADDR is on by default")
	}
	s := start(t, opts{roles: both})
	if s.app.MetricsURL() != "" {
		t.Errorf("MetricsURL = %q without METRICS_ADDR", s.app.MetricsURL())
	}
}

// The worker that picks up a job River's rescuer took from a dead worker
// counts the rescue.
func TestMetricsCountRescuedJobs(t *testing.T) {
	t.Parallel()
	_, dbURL := testutil.NewDB(t)
	media := t.TempDir()
	web := start(t, opts{roles: app.Roles{Web: true}, dbURL: dbURL, mediaDir: media})
	orphanedUpload(t, web)
	worker := start(t, opts{roles: app.Roles{Worker: true}, dbURL: dbURL, mediaDir: media, tweak: func(c *config.Config) {
		withMetrics(c)
		c.JobTimeout, c.RescueAfter = 5*time.Second, 10*time.Second
	}})
	waitMetrics(t, worker.app.MetricsURL(), 60*time.Second, "counting the rescue", func(m map[string]float64) bool {
		return m[`captionai_jobs_rescued_total{kind="caption"}`] == 1 &&
			m[`captionai_jobs_total{kind="caption",outcome="completed"}`] == 1
	})
}
