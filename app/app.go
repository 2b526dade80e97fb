// Package app wires the pieces into the processes main.go starts: web,
// worker, or both in one.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"captionai/config"
	"captionai/db"
	"captionai/db/pgserver"
	"captionai/handlers"
	"captionai/imagefile"
	"captionai/inference"
	"captionai/jobs"
	"captionai/mail"
	"captionai/metrics"
	"captionai/migrations"
	"captionai/notify"
	"captionai/static"
	"captionai/storage"
	"captionai/views"
)

// Roles says what a process does.
type Roles struct {
	Web    bool // serve HTTP and insert jobs
	Worker bool // run caption jobs
}

// App is an opened process: database migrated, model loaded if it works
// jobs. Run serves; Close releases everything.
type App struct {
	cfg   config.Config
	roles Roles
	log   *slog.Logger

	pg       *pgserver.Server
	Pool     *pgxpool.Pool
	Store    *db.Store
	files    storage.Store
	model    *inference.Model
	extra    extraCaptioners // the other MODELS and the engine
	nsfw     *inference.NSFW // nil: uploads are not checked
	river    *jobs.Client
	hub      *notify.Hub
	sessions *scs.SessionManager
	metrics  *metrics.Metrics // nil without METRICS_ADDR
	metricLn net.Listener
}

// LoadModel loads ONNX Runtime and the captioning model with sessions
// ONNX sessions; its errors say which setting to fix.
func LoadModel(cfg config.Config, sessions int) (*inference.Model, error) {
	m, err := inference.Open(inference.Options{Dir: cfg.ModelDir, LibPath: cfg.ORTLib, Sessions: sessions, Threads: cfg.ThreadsPerJob})
	if err != nil {
		return nil, fmt.Errorf("loading the model in %s (MODEL_DIR) with the ONNX Runtime library %s (ORT_LIB): %w\n"+
			"`go tool task ort` fetches the library; MODEL_DIR must hold a captioning model exported in the Optimum layout", cfg.ModelDir, cfg.ORTLib, err)
	}
	return m, nil
}

// loadNSFW loads the upload check's classifier, one session per worker
// slot, after LoadModel has loaded ONNX Runtime. It returns nil when
// NSFW_MODEL is off, or is the default and missing (so a checkout without
// the model, or a test, still runs; the log says so).
func loadNSFW(cfg config.Config, log *slog.Logger) (*inference.NSFW, error) {
	if cfg.NSFWModel == "" {
		log.Info("NSFW_MODEL is off: uploads are not checked")
		return nil, nil
	}
	n, err := inference.OpenNSFW(cfg.NSFWModel, cfg.Workers, cfg.ThreadsPerJob)
	if errors.Is(err, fs.ErrNotExist) && cfg.NSFWModel == config.DefaultNSFWModel {
		log.Warn("no NSFW classifier at the default NSFW_MODEL: uploads are not checked", "dir", cfg.NSFWModel)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading the NSFW classifier in %s (NSFW_MODEL; `off` runs without the check): %w", cfg.NSFWModel, err)
	}
	log.Info("NSFW classifier loaded", "dir", cfg.NSFWModel, "hold", cfg.NSFWHold)
	return n, nil
}

// Open connects to (or starts) Postgres, applies migrations and prepares the
// roles. With no roles it only migrates.
func Open(ctx context.Context, cfg config.Config, roles Roles, log *slog.Logger) (a *App, err error) {
	a = &App{cfg: cfg, roles: roles, log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if roles.Worker {
		// First, so a missing model fails before Postgres starts.
		start := time.Now()
		if a.model, err = LoadModel(cfg, cfg.Workers); err != nil {
			return a, err
		}
		log.Info("model loaded", "model", a.model.Name(), "sessions", cfg.Workers, "took", time.Since(start).Round(time.Millisecond))
		if a.extra, err = loadExtraCaptioners(cfg, log); err != nil {
			return a, err
		}
		if a.nsfw, err = loadNSFW(cfg, log); err != nil {
			return a, err
		}
	}

	url := cfg.DatabaseURL
	if url == "" {
		log.Info("DATABASE_URL is unset: starting an embedded Postgres", "dir", filepath.Join(cfg.DataDir, "postgres"), "port", cfg.EmbeddedPGPort)
		a.pg, err = pgserver.Start(ctx, pgserver.Options{DataDir: filepath.Join(cfg.DataDir, "postgres"), Port: cfg.EmbeddedPGPort, BinDir: cfg.PGBinDir, Log: log})
		if err != nil {
			return a, fmt.Errorf("embedded Postgres: %w", err)
		}
		url = a.pg.URL()
	}
	if a.Pool, err = db.Connect(ctx, url); err != nil {
		return a, err
	}
	if err := migrations.Up(ctx, a.Pool, log); err != nil {
		return a, err
	}
	a.Store = db.New(a.Pool)
	if !roles.Web && !roles.Worker {
		return a, nil
	}
	// ADMIN_EMAILS bootstraps admins among verified accounts only, and an
	// address taken off the list loses the role it gave.
	promoted, demoted, err := a.Store.SyncBootstrapAdmins(ctx, cfg.AdminEmails)
	if err != nil {
		return a, err
	}
	if promoted+demoted > 0 {
		log.Info("roles set from ADMIN_EMAILS", "granted", promoted, "revoked", demoted)
	}
	if a.files, err = storage.Open(cfg.StorageURL, cfg.MediaDir); err != nil {
		return a, err
	}

	sender, err := mail.New(cfg.SMTPURL, cfg.MailFrom, log)
	if err != nil {
		return a, err
	}
	if roles.Worker {
		a.river, err = jobs.NewWorker(a.Pool, jobs.WorkerConfig{
			DB: a.Store, Files: a.files, Model: a.model, Sessions: cfg.Workers, JobTimeout: cfg.JobTimeout, RescueAfter: cfg.RescueAfter,
			GuestRetention: cfg.GuestRetention, Mail: sender, PublicURL: cfg.PublicURL, Log: log,
			DecodeBudget: imagefile.NewBudget(imagefile.DefaultBudget), NSFW: a.nsfw, NSFWHold: cfg.NSFWHold,
			Others: a.extra.others(), Engine: a.extra.engineCaptioner(),
		})
	} else {
		a.river, err = jobs.NewInserter(a.Pool, log)
	}
	if err != nil {
		return a, err
	}
	if roles.Web {
		a.hub = notify.NewHub()
		a.sessions = scs.New()
		// Expired sessions are deleted by the housekeeping job, not by a
		// goroutine in every web process.
		a.sessions.Store = pgxstore.NewWithCleanupInterval(a.Pool, 0)
		a.sessions.Lifetime = sessionLifetime
		a.sessions.Cookie.Name = "captionai_session"
		a.sessions.Cookie.HttpOnly = true
		a.sessions.Cookie.SameSite = http.SameSiteLaxMode
		a.sessions.Cookie.Secure = strings.HasPrefix(cfg.PublicURL, "https://")
	}
	if cfg.MetricsAddr != "" {
		if err := a.openMetrics(); err != nil {
			return a, err
		}
	}
	return a, nil
}

// Handler builds the HTTP handler; done ends event streams on shutdown.
func (a *App) Handler(done <-chan struct{}) http.Handler {
	h := &handlers.Handler{
		DB: a.Store, Users: a.Store, Rates: a.Store, Sessions: a.sessions, Files: a.files, Jobs: jobs.Queue{Client: a.river},
		Hub: a.hub, Static: static.FS, Log: a.log, Done: done, AdminEmails: a.cfg.AdminEmails, Metrics: a.metrics,
		TrustedProxies: a.cfg.TrustedProxies, JobsUI: jobsUI(a.river, a.log, done),
		Models: modelNames(a.cfg),
		Site:   site(a.cfg),
		Limits: handlers.Limits{MaxFileBytes: a.cfg.MaxUploadBytes, MaxPixels: a.cfg.MaxPixels,
			MaxFiles: a.cfg.MaxFiles, GuestUploads: a.cfg.GuestUploads, GuestDays: int(a.cfg.GuestRetention.Hours() / 24)},
	}
	if a.model != nil {
		h.Ready = func() error { return nil } // the model loaded in Open
	}
	return h.Routes()
}

// sessionLifetime is how long a sign-in (or a guest's session) lasts.
const sessionLifetime = 30 * 24 * time.Hour

// site is what the pages say of who runs this server and where photos go.
func site(cfg config.Config) views.Site {
	s := views.Site{Operator: cfg.OperatorName, Contact: cfg.OperatorContact,
		GuestDays: int(cfg.GuestRetention.Hours() / 24), SessionDays: int(sessionLifetime.Hours() / 24),
		MailServer: cfg.SMTPURL != "", S3Storage: strings.HasPrefix(cfg.StorageURL, "s3://"), NSFWCheck: cfg.NSFWModel != ""}
	if cfg.EngineURL != "" {
		s.EngineKind, s.EngineHost = cfg.EngineKind, cfg.EngineURL
		if u, err := url.Parse(cfg.EngineURL); err == nil && u.Host != "" {
			s.EngineHost = u.Host
		}
	}
	return s
}

// Run works jobs and/or serves HTTP on ln until ctx ends, then shuts down:
// it stops taking requests and ends event streams while running jobs get a
// grace period to finish (or go back to the queue).
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	if a.roles.Worker {
		// Not runCtx: a cancelled Start context is River's hard stop, which
		// would fail the jobs running when the signal arrives. Shutdown below
		// stops River itself, gracefully first.
		if err := a.river.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("starting workers: %w", err)
		}
		a.log.Info("workers started", "queue", jobs.CaptionQueue, "concurrency", a.cfg.Workers)
	}

	var srv *http.Server
	done := make(chan struct{})
	if a.roles.Web {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.hub.Run(runCtx, a.Pool, a.log); err != nil && runCtx.Err() == nil {
				errc <- fmt.Errorf("listening for events: %w", err)
			}
		}()
		// No WriteTimeout: event streams stay open for as long as a page does.
		// Slow request bodies are bounded per request by the handlers.
		srv = &http.Server{Handler: a.Handler(done), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.log.Info("listening", "url", "http://"+ln.Addr().String())
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}

	msrv := a.serveMetrics(runCtx, &wg, errc) // nil without METRICS_ADDR

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	a.log.Info("shutting down")

	// Workers stop fetching at once and running jobs get jobGrace to finish
	// (a soft stop); only then are they cancelled (a hard stop), and River
	// puts them back in the queue for another attempt. This runs alongside
	// the HTTP shutdown, not after it, so the whole stop stays within the
	// 30 s supervisors commonly allow after SIGTERM.
	const jobGrace = 20 * time.Second
	jobsStopped := make(chan struct{})
	go func() {
		defer close(jobsStopped)
		if !a.roles.Worker {
			return
		}
		sctx, scancel := context.WithTimeout(context.Background(), jobGrace)
		defer scancel()
		if err := a.river.Stop(sctx); err != nil {
			a.log.Warn("jobs still running at shutdown: cancelling them back to the queue", "err", err)
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer ccancel()
			if err := a.river.StopAndCancel(cctx); err != nil {
				a.log.Warn("jobs did not stop after cancelling", "err", err)
			}
		}
	}()

	if srv != nil {
		close(done)
		sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := srv.Shutdown(sctx); err != nil {
			a.log.Warn("http shutdown", "err", err)
		}
		scancel()
	}
	a.stopMetrics(msrv)
	<-jobsStopped
	cancel()
	wg.Wait()
	return runErr
}

// Close releases the models, the pool and the embedded Postgres.
func (a *App) Close() {
	if a.model != nil {
		a.model.Close()
	}
	a.extra.close()
	if a.nsfw != nil {
		a.nsfw.Close()
	}
	if a.Pool != nil {
		a.Pool.Close()
	}
	if a.metricLn != nil {
		a.metricLn.Close() // in case Run never served it
	}
	if a.pg != nil {
		if err := a.pg.Stop(); err != nil {
			a.log.Warn("stopping embedded Postgres", "err", err)
		}
	}
}
