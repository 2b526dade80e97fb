// Package metrics holds CaptionAI's Prometheus metrics, in a registry of
// their own that the app serves on METRICS_ADDR. A nil *Metrics records
// nothing, so the rest of the app calls it unconditionally.
package metrics

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Metrics is the app's metrics and their registry.
type Metrics struct {
	reg      *prometheus.Registry
	log      *slog.Logger
	requests *prometheus.HistogramVec
	stages   *prometheus.HistogramVec
	jobs     *prometheus.CounterVec
	rescued  *prometheus.CounterVec
	streams  prometheus.Gauge
}

// New makes the metrics in a new registry, with Go's runtime and process
// metrics beside them.
func New(log *slog.Logger) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: log,
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "captionai_http_request_duration_seconds",
			Help:    "HTTP requests by route pattern, method and status class (2xx, 3xx, 4xx, 5xx).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method", "status"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "captionai_caption_stage_seconds",
			Help:    "Time of each stage of a stored caption: decode (the image file), nsfw (the upload check), encoder and decoder (the model), derivatives (the display sizes).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"stage"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "captionai_jobs_total",
			Help: "Job attempts this worker finished, by job kind and outcome: completed, retried, discarded (failed for good), cancelled, snoozed or interrupted (by shutdown).",
		}, []string{"kind", "outcome"}),
		rescued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "captionai_jobs_rescued_total",
			Help: "Job attempts this worker finished that River's rescuer had taken from a worker presumed dead.",
		}, []string{"kind"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "captionai_sse_clients",
			Help: "Server-sent event streams open now.",
		}),
	}
	m.reg.MustRegister(m.requests, m.stages, m.jobs, m.rescued, m.streams,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in Prometheus' text format. A collector that
// fails (the database is down) is logged and left out of the answer.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Middleware times requests by chi's route pattern (never the raw path,
// which would make a series per image). It must run inside chi's router.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := "unmatched" // refused before routing, or a 404
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		m.requests.WithLabelValues(route, method(r.Method), statusClass(ww.Status())).Observe(time.Since(start).Seconds())
	})
}

// method keeps the label to the methods the app answers.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

func statusClass(code int) string {
	if code == 0 { // nothing written: net/http answers 200
		code = http.StatusOK
	}
	return strconv.Itoa(code/100) + "xx"
}

// StreamOpened and StreamClosed count open SSE streams.
func (m *Metrics) StreamOpened() {
	if m != nil {
		m.streams.Inc()
	}
}

func (m *Metrics) StreamClosed() {
	if m != nil {
		m.streams.Dec()
	}
}

// CaptionStages is the output a caption or derive job records with
// river.RecordOutput (River's UI shows it on the job); WatchJobs observes
// it when the job completes. Stages that did not run are zero and not
// observed.
type CaptionStages struct {
	DecodeMS  float64 `json:"decode_ms"`  // reading and decoding the file, waiting for the decode budget included
	NSFWMS    float64 `json:"nsfw_ms"`    // the upload check
	EncoderMS float64 `json:"encoder_ms"` // the model's image encoder
	DecoderMS float64 `json:"decoder_ms"` // the model's text decoder
	// DerivativesMS is making and storing the display sizes (imagefile.Derive),
	// in the derive job.
	DerivativesMS float64 `json:"derivatives_ms,omitempty"`
}

// ObserveCaption records the stages of one stored caption.
func (m *Metrics) ObserveCaption(s CaptionStages) {
	if m == nil {
		return
	}
	for _, st := range []struct {
		name string
		ms   float64
	}{{"decode", s.DecodeMS}, {"nsfw", s.NSFWMS}, {"encoder", s.EncoderMS}, {"decoder", s.DecoderMS}, {"derivatives", s.DerivativesMS}} {
		if st.ms > 0 {
			m.stages.WithLabelValues(st.name).Observe(st.ms / 1000)
		}
	}
}

// JobEventKinds are the River events WatchJobs wants.
var JobEventKinds = []river.EventKind{
	river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled,
	river.EventKindJobSnoozed, river.EventKindJobInterrupted,
}

// WatchJobs counts the job events of a River subscription (of
// JobEventKinds) until River closes it, at its stop.
func (m *Metrics) WatchJobs(events <-chan *river.Event) {
	for e := range events {
		m.JobEvent(e)
	}
}

// CaptionKind and DeriveKind are the kinds of the jobs whose output holds
// CaptionStages.
const (
	CaptionKind = "caption"
	DeriveKind  = "derive"
)

// JobEvent counts one River job event.
func (m *Metrics) JobEvent(e *river.Event) {
	if m == nil || e.Job == nil {
		return
	}
	job := e.Job
	outcome := ""
	switch e.Kind {
	case river.EventKindJobCompleted:
		outcome = "completed"
		if job.Kind == CaptionKind || job.Kind == DeriveKind {
			var s CaptionStages
			if out := job.Output(); out != nil && json.Unmarshal(out, &s) == nil {
				m.ObserveCaption(s)
			}
		}
	case river.EventKindJobFailed:
		outcome = "retried"
		if job.State == rivertype.JobStateDiscarded {
			outcome = "discarded"
		}
	case river.EventKindJobCancelled:
		outcome = "cancelled"
	case river.EventKindJobSnoozed:
		outcome = "snoozed"
	case river.EventKindJobInterrupted:
		outcome = "interrupted"
	default:
		return
	}
	m.jobs.WithLabelValues(job.Kind, outcome).Inc()
	if rescued(job) {
		m.rescued.WithLabelValues(job.Kind).Inc()
	}
}

// rescued says whether the attempt before job's last one ended with River's
// rescuer taking the job back (it records an error on the stuck attempt).
func rescued(job *rivertype.JobRow) bool {
	for _, e := range job.Errors {
		if e.Attempt == job.Attempt-1 && strings.HasPrefix(e.Error, "Stuck job rescued") {
			return true
		}
	}
	return false
}

// QueueDepth registers captionai_queue_jobs, the jobs in River's table by
// state, read by count on every scrape (with a 2 s limit). Every process
// reports the same, cluster-wide numbers.
func (m *Metrics) QueueDepth(count func(ctx context.Context) (map[string]int, error)) {
	m.reg.MustRegister(queueDepth{count: count, desc: prometheus.NewDesc("captionai_queue_jobs",
		"Jobs in River's table by state (completed and discarded ones until River's cleaner deletes them).", []string{"state"}, nil)})
}

type queueDepth struct {
	count func(ctx context.Context) (map[string]int, error)
	desc  *prometheus.Desc
}

func (q queueDepth) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

func (q queueDepth) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := q.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(q.desc, err)
		return
	}
	for _, s := range rivertype.JobStates() { // every state, zero included
		ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(counts[string(s)]), string(s))
	}
}
