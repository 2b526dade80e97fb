package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/vocab"
)

// Viewer is who is making a request: an account, a guest who uploaded
// before, or nobody yet.
type Viewer struct {
	UserID   uuid.UUID
	Email    string
	Role     string // vocab.User, RoleModerator or RoleAdmin; "" when not signed in
	Verified bool
	GuestID  uuid.UUID
	// DisplayName is the account's name beside its public photos; "" for
	// none.
	DisplayName string
}

func (v Viewer) SignedIn() bool { return v.UserID != uuid.Nil }

// IsAdmin reports whether the viewer holds the admin role.
func (v Viewer) IsAdmin() bool { return v.Role == vocab.Admin }

// IsStaff reports whether the viewer moderates: a moderator or an admin.
func (v Viewer) IsStaff() bool { return v.Role == vocab.Moderator || v.Role == vocab.Admin }

// Owns reports whether img belongs to the viewer's account or guest session.
func (v Viewer) Owns(img db.Image) bool {
	return (v.UserID != uuid.Nil && img.UserID != nil && *img.UserID == v.UserID) ||
		(v.GuestID != uuid.Nil && img.GuestID != nil && *img.GuestID == v.GuestID)
}

// CanSee is the one visibility rule: public and unlisted images are open to
// anyone with the link; private ones only to their owner and admins; held
// and hidden ones (moderation) only to their owner and staff.
func (v Viewer) CanSee(img db.Image) bool {
	if img.Moderation != vocab.ModOK {
		return v.Owns(img) || v.IsAdmin() || (v.IsStaff() && img.Visibility != vocab.Private)
	}
	return img.Visibility != vocab.Private || v.Owns(img) || v.IsAdmin()
}

// CanEdit reports whether the viewer may change or delete img.
func (v Viewer) CanEdit(img db.Image) bool { return v.Owns(img) || v.IsAdmin() }

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
			case err == nil && u.BannedAt == nil && h.Sessions.GetString(ctx, sessStamp) == sessionStamp(u):
				v.UserID, v.Email, v.Role, v.Verified, v.DisplayName = u.ID, u.Email, u.Role, u.Verified(), u.DisplayName
			case err == nil, errors.Is(err, db.ErrNotFound):
				// The password or the role changed since this session signed
				// in, or the account was banned or deleted: it is signed out.
				h.Sessions.Remove(ctx, sessUser)
				h.Sessions.Remove(ctx, sessStamp)
			default:
				h.serverError(w, r, err)
				return
			}
		}
		if s := h.Sessions.GetString(ctx, sessGuest); s != "" && !v.SignedIn() {
			v.GuestID, _ = uuid.Parse(s)
		}
		next.ServeHTTP(w, r.WithContext(withViewer(ctx, v, h.Sessions.PopString(ctx, sessFlash))))
	})
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
