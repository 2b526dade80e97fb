package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func wantLines(t *testing.T, body string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(body, "\n"+l+"\n") {
			t.Errorf("no line %q in:\n%s", l, grep(body, strings.SplitN(l, "{", 2)[0]))
		}
	}
}

// grep keeps the lines of body that start with prefix, for error messages.
func grep(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRequestsByRoutePattern(t *testing.T) {
	m := New(quiet())
	r := chi.NewRouter()
	r.Use(m.Middleware)
	r.Get("/images/{id}", func(w http.ResponseWriter, r *http.Request) {})
	r.Post("/images", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/images/1", http.StatusSeeOther) })
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "/images/1", nil),
		httptest.NewRequest("GET", "/images/2", nil),
		httptest.NewRequest("POST", "/images", nil),
		httptest.NewRequest("GET", "/nothing/here", nil),
		httptest.NewRequest("BREW", "/images/3", nil),
	} {
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
	body := scrape(t, m)
	wantLines(t, body,
		`captionai_http_request_duration_seconds_count{method="GET",route="/images/{id}",status="2xx"} 2`,
		`captionai_http_request_duration_seconds_count{method="POST",route="/images",status="3xx"} 1`,
		`captionai_http_request_duration_seconds_count{method="GET",route="unmatched",status="4xx"} 1`,
		`captionai_http_request_duration_seconds_count{method="other",route="unmatched",status="4xx"} 1`,
	)
	if strings.Contains(body, "/images/1") || strings.Contains(body, "/nothing") {
		t.Errorf("a raw path became a label:\n%s", grep(body, "captionai_http"))
	}
}

func TestNilRecordsNothing(t *testing.T) {
	var m *Metrics
	h := m.Middleware(http.NotFoundHandler())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	m.StreamOpened()
	m.StreamClosed()
	m.ObserveCaption(CaptionStages{DecodeMS: 1})
	m.JobEvent(&river.Event{Kind: river.EventKindJobCompleted, Job: &rivertype.JobRow{Kind: "caption"}})
}

func TestJobEvents(t *testing.T) {
	m := New(quiet())
	out, _ := json.Marshal(map[string]any{"output": CaptionStages{DecodeMS: 3, EncoderMS: 20, DecoderMS: 40}})
	rescueErr := rivertype.AttemptError{Attempt: 1, Error: "Stuck job rescued by JobRescuer"}
	events := make(chan *river.Event, 10)
	for _, e := range []*river.Event{
		{Kind: river.EventKindJobCompleted, Job: &rivertype.JobRow{Kind: "caption", Attempt: 1, Metadata: out, State: rivertype.JobStateCompleted}},
		{Kind: river.EventKindJobCompleted, Job: &rivertype.JobRow{Kind: "caption", Attempt: 2, Metadata: out, Errors: []rivertype.AttemptError{rescueErr}}},
		{Kind: river.EventKindJobFailed, Job: &rivertype.JobRow{Kind: "caption", Attempt: 1, State: rivertype.JobStateRetryable}},
		{Kind: river.EventKindJobFailed, Job: &rivertype.JobRow{Kind: "caption", Attempt: 5, State: rivertype.JobStateDiscarded}},
		{Kind: river.EventKindJobCancelled, Job: &rivertype.JobRow{Kind: "caption", Attempt: 1, State: rivertype.JobStateCancelled}},
		{Kind: river.EventKindJobCompleted, Job: &rivertype.JobRow{Kind: "reconcile", Attempt: 1, Metadata: []byte(`{}`)}},
		// An error of an older attempt is not a rescue of this one.
		{Kind: river.EventKindJobCompleted, Job: &rivertype.JobRow{Kind: "reconcile", Attempt: 3, Errors: []rivertype.AttemptError{rescueErr}}},
	} {
		events <- e
	}
	close(events)
	m.WatchJobs(events)
	body := scrape(t, m)
	wantLines(t, body,
		`captionai_jobs_total{kind="caption",outcome="completed"} 2`,
		`captionai_jobs_total{kind="caption",outcome="retried"} 1`,
		`captionai_jobs_total{kind="caption",outcome="discarded"} 1`,
		`captionai_jobs_total{kind="caption",outcome="cancelled"} 1`,
		`captionai_jobs_total{kind="reconcile",outcome="completed"} 2`,
		`captionai_jobs_rescued_total{kind="caption"} 1`,
		`captionai_caption_stage_seconds_count{stage="decode"} 2`,
		`captionai_caption_stage_seconds_sum{stage="decoder"} 0.08`,
		`captionai_caption_stage_seconds_bucket{stage="encoder",le="0.025"} 2`,
	)
	if strings.Contains(body, `stage="nsfw"`) || strings.Contains(body, `captionai_jobs_rescued_total{kind="reconcile"}`) {
		t.Errorf("a stage that did not run, or a rescue of an older attempt, was counted:\n%s", body)
	}
}

func TestQueueDepth(t *testing.T) {
	m := New(quiet())
	fail := false
	m.QueueDepth(func(ctx context.Context) (map[string]int, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the count has no time limit")
		}
		if fail {
			return nil, errors.New("database down")
		}
		return map[string]int{"completed": 7, "available": 2}, nil
	})
	m.StreamOpened()
	wantLines(t, scrape(t, m),
		`captionai_queue_jobs{state="completed"} 7`,
		`captionai_queue_jobs{state="available"} 2`,
		`captionai_queue_jobs{state="running"} 0`,
		`captionai_sse_clients 1`,
	)

	// A failed count leaves the gauge out; the rest is still served.
	fail = true
	body := scrape(t, m)
	if strings.Contains(body, "captionai_queue_jobs{") {
		t.Errorf("queue depth served without a count:\n%s", body)
	}
	wantLines(t, body, `captionai_sse_clients 1`)
}
