// Package handlers serves CaptionAI's pages, fragments, JSON and event
// streams. Each action has its own file; Handler holds what they share.
package handlers

import (
	"context"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"captionai/db"
	"captionai/notify"
	"captionai/storage"
)

// ImageStore is the part of the storage layer the handlers use.
type ImageStore interface {
	Image(ctx context.Context, id uuid.UUID) (db.Image, error)
	Batch(ctx context.Context, batchID uuid.UUID) ([]db.Image, error)
	Recent(ctx context.Context, before time.Time, limit int) ([]db.Image, error)
	CreateImages(ctx context.Context, imgs []db.Image, enqueue db.EnqueueFunc) error
	Ping(ctx context.Context) error
}

// Enqueuer inserts a caption job inside the upload's transaction.
type Enqueuer interface {
	EnqueueCaption(ctx context.Context, tx pgx.Tx, imageID uuid.UUID) (jobID int64, err error)
}

// Limits bound what an upload may hold.
type Limits struct {
	MaxFileBytes int64
	MaxPixels    int64
	MaxFiles     int
}

// Handler holds the dependencies of every route.
type Handler struct {
	DB     ImageStore
	Files  storage.Store
	Jobs   Enqueuer
	Hub    *notify.Hub
	Static fs.FS
	Limits Limits
	Log    *slog.Logger
	// Ready reports whether this process can serve (model loaded, say);
	// the database is checked separately.
	Ready func() error
	// Done closes when the server shuts down, to end event streams.
	Done <-chan struct{}
}

// Routes returns the app's HTTP handler.
func (h *Handler) Routes() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.RealIP, h.logRequests, middleware.Recoverer, securityHeaders)

	r.Get("/healthz", h.healthz)
	r.Get("/readyz", h.readyz)
	r.Handle("/static/*", http.StripPrefix("/static/", staticFiles(h.Static)))

	r.Get("/", h.home)
	r.Post("/images", h.upload)
	r.Get("/images/{id}", h.image)
	r.Get("/images/{id}/file", h.file)
	r.Get("/images/{id}/events", h.imageEvents)
	r.Get("/batches/{id}", h.batch)
	r.Get("/batches/{id}/events", h.batchEvents)

	r.NotFound(func(w http.ResponseWriter, r *http.Request) { h.notFound(w, r) })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This address does not accept "+r.Method+" requests.")
	})
	return r
}

func staticFiles(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		h.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", ww.Status(),
			"bytes", ww.BytesWritten(), "took", time.Since(start).Round(time.Microsecond), "remote", r.RemoteAddr)
	})
}
