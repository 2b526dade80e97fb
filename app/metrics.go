package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"captionai/metrics"
)

// openMetrics makes the metrics and listens on METRICS_ADDR, so that a
// taken port fails at start.
func (a *App) openMetrics() error {
	ln, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR: %w", err)
	}
	a.metrics, a.metricLn = metrics.New(a.log), ln
	a.metrics.QueueDepth(a.countJobs)
	return nil
}

// MetricsURL is where the metrics are served, "" without METRICS_ADDR.
func (a *App) MetricsURL() string {
	if a.metricLn == nil {
		return ""
	}
	return "http://" + a.metricLn.Addr().String() + "/metrics"
}

// countJobs counts River's jobs by state.
func (a *App) countJobs(ctx context.Context) (map[string]int, error) {
	rows, err := a.Pool.Query(ctx, "SELECT state::text, count(*) FROM river_job GROUP BY state")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, err
		}
		counts[state] = n
	}
	return counts, rows.Err()
}

// serveMetrics serves /metrics until stopMetrics, and counts this worker's
// job events until ctx ends. It returns nil without METRICS_ADDR.
func (a *App) serveMetrics(ctx context.Context, wg *sync.WaitGroup, errc chan<- error) *http.Server {
	if a.metricLn == nil {
		return nil
	}
	if a.roles.Worker {
		events, unsubscribe := a.river.Subscribe(metrics.JobEventKinds...)
		wg.Add(2)
		go func() { defer wg.Done(); a.metrics.WatchJobs(events) }()
		go func() { defer wg.Done(); <-ctx.Done(); unsubscribe() }()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.log.Info("serving metrics", "url", a.MetricsURL())
		if err := srv.Serve(a.metricLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("metrics: %w", err)
		}
	}()
	return srv
}

// stopMetrics shuts down the server serveMetrics started, if any.
func (a *App) stopMetrics(srv *http.Server) {
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		a.log.Warn("metrics shutdown", "err", err)
	}
}
