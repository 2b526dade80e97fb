package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/views"
)

// Session keys.
const (
	sessUser     = "user_id"
	sessPassword = "password" // passwordStamp of the hash the session signed in with
	sessGuest    = "guest_id"
	sessFlash    = "flash"
)

// Viewer is who is making a request: an account, a guest who uploaded
// before, or nobody yet.
type Viewer struct {
	UserID  uuid.UUID
	Email   string
	IsAdmin bool
	GuestID uuid.UUID
}

func (v Viewer) SignedIn() bool { return v.UserID != uuid.Nil }

// Owns reports whether img belongs to the viewer's account or guest session.
func (v Viewer) Owns(img db.Image) bool {
	return (v.UserID != uuid.Nil && img.UserID != nil && *img.UserID == v.UserID) ||
		(v.GuestID != uuid.Nil && img.GuestID != nil && *img.GuestID == v.GuestID)
}

// CanSee is the one visibility rule: public and unlisted images are open to
// anyone with the link; private ones only to their owner and admins.
func (v Viewer) CanSee(img db.Image) bool {
	return img.Visibility != db.Private || v.Owns(img) || v.IsAdmin
}

// CanEdit reports whether the viewer may change or delete img.
func (v Viewer) CanEdit(img db.Image) bool { return v.Owns(img) || v.IsAdmin }

// Owner is the viewer as the owner of new uploads.
func (v Viewer) Owner() db.Owner { return db.Owner{UserID: v.UserID, GuestID: v.GuestID} }

type viewerKey struct{}

func viewerFrom(ctx context.Context) Viewer {
	v, _ := ctx.Value(viewerKey{}).(Viewer)
	return v
}

// identify loads the viewer from the session for every request.
func (h *Handler) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var v Viewer
		if s := h.Sessions.GetString(ctx, sessUser); s != "" {
			id, _ := uuid.Parse(s)
			u, err := h.Users.UserByID(ctx, id)
			switch {
			case err == nil && h.Sessions.GetString(ctx, sessPassword) == passwordStamp(u.PasswordHash):
				v.UserID, v.Email, v.IsAdmin = u.ID, u.Email, u.IsAdmin
			case err == nil, errors.Is(err, db.ErrNotFound):
				// The password was changed or reset since this session signed in, or
				// the account was deleted: the session is signed out.
				h.Sessions.Remove(ctx, sessUser)
				h.Sessions.Remove(ctx, sessPassword)
			default:
				h.serverError(w, r, err)
				return
			}
		}
		if s := h.Sessions.GetString(ctx, sessGuest); s != "" && !v.SignedIn() {
			v.GuestID, _ = uuid.Parse(s)
		}
		ctx = context.WithValue(ctx, viewerKey{}, v)
		ctx = views.WithUser(ctx, views.User{Email: v.Email, IsAdmin: v.IsAdmin, SignedIn: v.SignedIn(),
			Guest: v.GuestID != uuid.Nil, Flash: h.Sessions.PopString(ctx, sessFlash)})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// signIn makes the session an account's: a new token (no fixation), the
// guest identity dropped since its uploads were claimed.
func (h *Handler) signIn(r *http.Request, u db.User) error {
	ctx := r.Context()
	if err := h.Sessions.RenewToken(ctx); err != nil {
		return err
	}
	h.Sessions.Remove(ctx, sessGuest)
	h.Sessions.Put(ctx, sessUser, u.ID.String())
	h.Sessions.Put(ctx, sessPassword, passwordStamp(u.PasswordHash))
	return nil
}

// passwordStamp identifies a password hash without storing it in the
// session. Each new hash has a new salt, so any password change or reset
// changes the stamp and signs out the account's other sessions.
func passwordStamp(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(sum[:12])
}

// guestID returns the viewer's guest identity, creating one for a first
// anonymous upload.
func (h *Handler) guestID(r *http.Request) (uuid.UUID, error) {
	v := viewerFrom(r.Context())
	if v.GuestID != uuid.Nil {
		return v.GuestID, nil
	}
	id := uuid.New()
	if err := h.Sessions.RenewToken(r.Context()); err != nil {
		return uuid.Nil, err
	}
	h.Sessions.Put(r.Context(), sessGuest, id.String())
	return id, nil
}

func (h *Handler) isAdminEmail(email string) bool {
	for _, e := range h.AdminEmails {
		if strings.EqualFold(e, email) {
			return true
		}
	}
	return false
}

// clientIP is the client's address: the peer's, or the forwarded one that
// clientAddr put in its place for a request from a trusted proxy.
func clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil {
		return ap.Addr().Unmap()
	}
	a, err := netip.ParseAddr(r.RemoteAddr)
	if err == nil {
		return a.Unmap()
	}
	return netip.IPv4Unspecified()
}

// localPath accepts only same-site paths as redirect targets.
func localPath(p, fallback string) string {
	u, err := url.Parse(p)
	if p == "" || err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return fallback
	}
	return p
}

// requireUser sends anonymous visitors to sign in first.
func (h *Handler) requireUser(w http.ResponseWriter, r *http.Request) (Viewer, bool) {
	v := viewerFrom(r.Context())
	if !v.SignedIn() {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return v, false
	}
	return v, true
}

func (h *Handler) flash(r *http.Request, msg string) { h.Sessions.Put(r.Context(), sessFlash, msg) }
