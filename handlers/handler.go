// Package handlers serves CaptionAI's pages, fragments, JSON and event
// streams. Each action has its own file; Handler holds what they share.
package handlers

import (
	"context"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"captionai/db"
	"captionai/metrics"
	"captionai/notify"
	"captionai/storage"
	"captionai/views"
)

// ImageStore is the part of the storage layer the image handlers use.
type ImageStore interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Image(ctx context.Context, id uuid.UUID) (db.Image, error)
	Batch(ctx context.Context, batchID uuid.UUID) ([]db.Image, error)
	OwnedByAfter(ctx context.Context, o db.Owner, after db.Cursor, limit int) ([]db.Image, error)
	PublicAfter(ctx context.Context, query string, after db.Cursor, limit int) ([]db.Image, error)
	SetVisibility(ctx context.Context, id uuid.UUID, visibility string) error
	CreateReport(ctx context.Context, r db.Report) (bool, error)
	PublicNeighbours(ctx context.Context, at db.Cursor) (newer, older uuid.UUID, err error)
	CaptionRatings(ctx context.Context, imageID, viewer uuid.UUID) (db.Ratings, error)
	CaptionHistory(ctx context.Context, imageID uuid.UUID) ([]db.CaptionVersion, error)
	Rate(ctx context.Context, imageID, userID uuid.UUID, rating string) error
	ReviewQueue(ctx context.Context, noPrivate bool, limit int) ([]db.Flagged, error)
	AdminImages(ctx context.Context, f db.AdminFilter, after db.Cursor, limit int) ([]db.AdminImage, error)
	AuditLog(ctx context.Context, f db.AuditFilter, after db.AuditCursor, limit int) ([]db.Audit, error)
	Ping(ctx context.Context) error
}

// UserStore is the part of the storage layer the account handlers use.
type UserStore interface {
	UserByEmail(ctx context.Context, email string) (db.User, error)
	UserByID(ctx context.Context, id uuid.UUID) (db.User, error)
	UserSummaries(ctx context.Context, query string, limit int) ([]db.UserSummary, error)
	Audit(ctx context.Context, a db.Audit) error
	ClaimGuestImages(ctx context.Context, userID, guest uuid.UUID) error
	SetRole(ctx context.Context, id uuid.UUID, role, grantedBy string, vouch bool, by *db.Audit) (db.User, error)
	SetPassword(ctx context.Context, id uuid.UUID, hash string) error
	SetLastVisibility(ctx context.Context, id uuid.UUID, visibility string) error
	SetDisplayName(ctx context.Context, id uuid.UUID, name string) error
	BeginLogin(ctx context.Context, email string, ip netip.Addr) (time.Duration, error)
	LoginSucceeded(ctx context.Context, email string, ip netip.Addr) error
	ClearLoginFailures(ctx context.Context, email string) error
	TokenValid(ctx context.Context, purpose, token string) (bool, error)
	UseResetToken(ctx context.Context, token, passwordHash string) (db.User, error)
	UseVerifyToken(ctx context.Context, token string, userID uuid.UUID) (db.User, error)
	CreateAPIToken(ctx context.Context, userID uuid.UUID, name string) (db.APIToken, string, error)
	APITokens(ctx context.Context, userID uuid.UUID) ([]db.APIToken, error)
	RevokeAPIToken(ctx context.Context, userID, id uuid.UUID) error
	UserByAPIToken(ctx context.Context, token string) (db.User, error)
}

// RateStore counts events for per-key rate limits.
type RateStore interface {
	Take(ctx context.Context, l db.Limit, key string, n int) (time.Duration, error)
	Used(ctx context.Context, l db.Limit, key string) (int, error)
}

// Jobs queues background work: in the caller's transaction, which commits
// the jobs together with its rows, or on their own.
type Jobs interface {
	InsertManyTx(ctx context.Context, tx pgx.Tx, args ...river.JobArgs) (jobIDs []int64, err error)
	Insert(ctx context.Context, args ...river.JobArgs) error
}

// Limits bound what an upload may hold.
type Limits struct {
	MaxFileBytes int64
	MaxPixels    int64
	MaxFiles     int
	GuestUploads int // per IP address per hour
	GuestDays    int // unclaimed guest uploads are kept this long
}

// Handler holds the dependencies of every route.
type Handler struct {
	DB       ImageStore
	Users    UserStore
	Rates    RateStore
	Sessions *scs.SessionManager
	Files    storage.Store
	Jobs     Jobs
	Hub      *notify.Hub
	Static   fs.FS
	Limits   Limits
	TempDir  string // uploads are staged here; "" is the system's
	Log      *slog.Logger
	// AdminEmails are the addresses whose accounts are admins.
	AdminEmails []string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed.
	TrustedProxies []net.IPNet
	// Models are the captioners a new caption may be asked of, by name,
	// the default first; nil: only the default.
	Models []string
	// Ready reports whether this process can serve (model loaded, say);
	// the database is checked separately.
	Ready func() error
	// Done closes when the server shuts down, to end event streams.
	Done <-chan struct{}
	// JobsUI is River's web UI, served to admins at JobsUIPrefix; nil
	// leaves it unmounted.
	JobsUI http.Handler
	// Metrics times requests and counts event streams; nil records nothing.
	Metrics *metrics.Metrics
	// Site is who runs this server and what it does with photos, for the
	// footer, /terms and /privacy.
	Site views.Site
}

// JobsUIPrefix is where River's UI is mounted; it must be given to riverui
// as its Prefix, for the links and API calls it makes.
const JobsUIPrefix = "/admin/jobs"

// Routes returns the app's HTTP handler.
func (h *Handler) Routes() http.Handler {
	r := chi.NewRouter()
	// A session store that cannot be read (database down) gets our error
	// page, not scs's bare text.
	h.Sessions.ErrorFunc = h.serverError
	r.Use(h.clientAddr(), h.logRequests, h.Metrics.Middleware, middleware.Recoverer, securityHeaders, minBodyRate, h.withSite)
	r.Get("/healthz", h.healthz)
	r.Get("/readyz", h.readyz)
	r.Handle("/static/*", http.StripPrefix("/static/", staticFiles(h.Static)))
	r.Get("/api/openapi.json", serveOpenAPI)

	r.Group(func(r chi.Router) {
		// Unsafe methods from another origin are refused (CSRF).
		cop := http.NewCrossOriginProtection()
		cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.fail(w, r, http.StatusForbidden, "Request refused", "This form was sent from another site, so it was refused.")
		}))
		// A session cookie goes through it, an API token skips it (bearer.go).
		r.Use(apiAnswersJSON, h.authenticate(cop), h.refuseBadText)

		r.Get("/", h.home)
		r.Get("/fragments/gallery", h.galleryFragment)
		r.Get("/gallery", h.galleryPage)
		r.Get("/terms", h.terms)
		r.Get("/privacy", h.privacy)
		r.With(h.uploadSlots).Post("/images", h.upload)
		r.Get("/images/{id}", h.image)
		r.Get("/images/{id}/file", h.file)
		r.Head("/images/{id}/file", h.file)
		r.Get("/images/{id}/sizes/{file}", h.derivative)
		r.Head("/images/{id}/sizes/{file}", h.derivative)
		r.Get("/images/{id}/events", h.imageEvents)
		r.Post("/images/{id}/visibility", h.setVisibility)
		r.Post("/images/{id}/delete", h.deleteImage)
		r.Get("/batches/{id}", h.batch)
		r.Get("/batches/{id}/events", h.batchEvents)

		r.Get("/signup", h.signupPage)
		r.Post("/signup", h.signup)
		r.Get("/login", h.loginPage)
		r.Post("/login", h.login)
		r.Post("/logout", h.logout)
		r.Get("/forgot", h.forgotPage)
		r.Post("/forgot", h.forgot)
		r.Get("/reset", h.resetPage)
		r.Post("/reset", h.reset)
		r.Get("/verify", h.verifyPage)
		r.Post("/verify", h.verify)
		r.Get("/me", h.me)
		r.Get("/me/events", h.meEvents)
		r.Get("/account", h.accountPage)
		r.Post("/account/password", h.changePassword)
		r.Post("/account/delete", h.deleteAccount)
		r.Post("/account/verify", h.resendVerification)
		r.Post("/account/name", h.setDisplayName)
		r.Get("/account/tokens", h.tokensPage)
		r.Post("/account/tokens", h.createToken)
		r.Post("/account/tokens/{id}/revoke", h.revokeToken)
		r.Get("/api/images", h.apiMyImages)
		r.Get("/api/gallery", h.apiGallery)
		r.Get("/api/images/{id}", h.apiImage)
		r.Post("/images/{id}/report", h.report)
		r.Post("/images/{id}/caption", h.editCaption)
		r.Post("/images/{id}/rating", h.rate)
		r.Post("/images/{id}/regenerate", h.regenerate)
		r.Get("/images/{id}/captions", h.captionHistory)
		r.Post("/images/{id}/captions/{version}/restore", h.restoreCaption)
		r.Get("/admin", h.admin)
		r.Get("/admin/reports", h.reviewQueue)
		r.Get("/admin/audit", h.auditLog)
		r.Post("/admin/images/bulk", h.bulkModerate)
		r.Post("/admin/images/{id}/hide", h.hide)
		r.Post("/admin/images/{id}/unhide", h.unhide)
		r.Post("/admin/images/{id}/approve", h.approve)
		r.Post("/admin/images/{id}/dismiss", h.dismiss)
		r.Post("/admin/images/{id}/delete", h.staffDelete)
		r.Post("/admin/images/{id}/caption", h.fixCaption)
		r.Get("/admin/users", h.adminUsers)
		r.Post("/admin/users/{id}/role", h.setRole)
		r.Post("/admin/users/{id}/ban", h.ban)
		r.Post("/admin/users/{id}/unban", h.unban)
		r.Post("/admin/images/{id}/retry", h.retryCaption)
		r.HandleFunc(JobsUIPrefix, h.serveJobsUI)
		r.HandleFunc(JobsUIPrefix+"/*", h.serveJobsUI)
	})

	// Through the session so the page's navigation knows who is signed in.
	r.NotFound(h.Sessions.LoadAndSave(h.identify(http.HandlerFunc(h.notFound))).ServeHTTP)
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
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// serveJobsUI serves River's UI and its API to admins, behind our session and
// CSRF checks; to anyone else it does not exist.
func (h *Handler) serveJobsUI(w http.ResponseWriter, r *http.Request) {
	if h.JobsUI == nil || !viewerFrom(r.Context()).IsAdmin() {
		h.notFound(w, r)
		return
	}
	w.Header().Set("Content-Security-Policy", jobsUICSP)
	h.JobsUI.ServeHTTP(w, r)
}

// jobsUICSP is securityHeaders' policy plus the one thing riverui's SPA
// needs: <style> elements it writes at run time (its toasts' CSS-in-JS, its
// theme switch). Style attributes and every script stay as strict.
const jobsUICSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; style-src-elem 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

func (h *Handler) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		h.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", ww.Status(),
			"bytes", ww.BytesWritten(), "took", time.Since(start).Round(time.Microsecond), "remote", r.RemoteAddr)
	})
}
