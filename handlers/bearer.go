package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/views"
	"captionai/vocab"
)

// authenticate identifies the viewer of every request of the app's pages:
// by the session cookie, behind the cross-origin check, or by a personal
// API token in Authorization: Bearer. A browser never sends a token by
// itself, so a request with one skips the cross-origin check; it neither
// reads nor writes a session, and a request with a cookie too is refused,
// so a cookie cannot ride along past that check.
func (h *Handler) authenticate(cop *http.CrossOriginProtection) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		withCookie := cop.Handler(h.Sessions.LoadAndSave(h.identify(next)))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := bearerToken(r)
			if !ok {
				withCookie.ServeHTTP(w, r)
				return
			}
			if r.Header.Get("Cookie") != "" {
				h.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Send either a token or a cookie, not both."})
				return
			}
			if !db.WellFormedAPIToken(token) {
				h.tokenRefused(w, "The API token is malformed: it should be "+db.APITokenPrefix+" and 43 more characters.")
				return
			}
			u, err := h.Users.UserByAPIToken(r.Context(), token)
			switch {
			case errors.Is(err, db.ErrNotFound):
				h.tokenRefused(w, "The API token is unknown or revoked.")
				return
			case err != nil:
				h.Log.Error("checking API token", "path", r.URL.Path, "err", err)
				h.writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "The server could not check the token; please try again in a moment."})
				return
			case u.BannedAt != nil:
				h.tokenRefused(w, "This account is banned: "+u.BanReason)
				return
			}
			if !tokenAllowed(r.URL.Path) {
				h.writeJSON(w, http.StatusForbidden, map[string]string{"error": "An API token cannot be used here: sign in with your password instead."})
				return
			}
			// Handlers may flash or remember things in the session: this one
			// is never saved, so no cookie is sent.
			ctx, err := h.Sessions.Load(r.Context(), "")
			if err != nil {
				h.serverError(w, r, err)
				return
			}
			// A token acts as a plain user: staff powers need a signed-in
			// session, so a leaked token cannot moderate.
			v := Viewer{UserID: u.ID, Email: u.Email, Role: vocab.User, Verified: u.Verified()}
			next.ServeHTTP(w, r.WithContext(withViewer(ctx, v, "")))
		})
	}
}

// bearerToken is the token of an Authorization: Bearer header, and whether
// there is such a header (the token may still be empty or malformed).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// tokenDenied are the paths (and everything under them) a token may not
// use: whoever steals a token must not take over or delete the account,
// make tokens of their own, or use staff powers.
var tokenDenied = []string{"/account", "/admin", "/login", "/logout", "/signup", "/verify", "/forgot", "/reset"}

func tokenAllowed(path string) bool {
	for _, p := range tokenDenied {
		if path == p || strings.HasPrefix(path, p+"/") {
			return false
		}
	}
	return true
}

// tokenRefused answers 401 for a token that does not work.
func (h *Handler) tokenRefused(w http.ResponseWriter, message string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	h.writeJSON(w, http.StatusUnauthorized, map[string]string{"error": message})
}

// withViewer stores the viewer for the handlers and what the pages'
// layout needs of it.
func withViewer(ctx context.Context, v Viewer, flash string) context.Context {
	ctx = context.WithValue(ctx, viewerKey{}, v)
	return views.WithUser(ctx, views.User{Email: v.Email, IsAdmin: v.IsAdmin(), IsStaff: v.IsStaff(), SignedIn: v.SignedIn(),
		Guest: v.GuestID != uuid.Nil, Flash: flash})
}
