package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/views"
)

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, views.LoginPage(views.AuthForm{Next: r.URL.Query().Get("next")}))
}

// login checks the password, throttled per account and address, then
// claims the session's guest uploads and signs in.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	email, password := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	f := views.AuthForm{Email: email, Next: r.PostFormValue("next")}
	ip := clientIP(r)
	if msg := checkEmail(email); msg != "" {
		f.Error = msg
		h.render(w, r, http.StatusUnprocessableEntity, views.LoginPage(f))
		return
	}

	// Throttle first, in one step with recording this attempt, so that
	// concurrent guesses cannot all slip past the count.
	wait, err := h.Users.BeginLogin(ctx, email, ip)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if wait > 0 {
		f.Error = "Too many failed sign-ins for this account from your network address. Wait " + waitText(wait) +
			" and try again, or reset your password."
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
		h.render(w, r, http.StatusTooManyRequests, views.LoginPage(f))
		return
	}

	u, err := h.Users.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		h.serverError(w, r, err)
		return
	}
	ok, err := passwordMatches(ctx, password, u.PasswordHash)
	if errors.Is(err, errBusy) {
		h.busy(w, r)
		return
	}
	if err != nil || !ok || u.ID == uuid.Nil {
		f.Error = "The email address or password is not right."
		h.render(w, r, http.StatusUnauthorized, views.LoginPage(f))
		return
	}

	if u.BannedAt != nil {
		// Said only to someone who knows the password.
		f.Error = "This account is banned: " + u.BanReason + " If you think this is a mistake, write to the operator of this site."
		h.render(w, r, http.StatusForbidden, views.LoginPage(f))
		return
	}
	if err := h.Users.LoginSucceeded(ctx, email, ip); err != nil {
		h.serverError(w, r, err)
		return
	}
	// A reset link verifies the address too; ADMIN_EMAILS may apply now.
	if u, err = h.bootstrapAdmin(ctx, u); err != nil {
		h.serverError(w, r, err)
		return
	}
	if v := viewerFrom(ctx); v.GuestID != uuid.Nil {
		if err := h.Users.ClaimGuestImages(ctx, u.ID, v.GuestID); err != nil {
			h.serverError(w, r, err)
			return
		}
	}
	if err := h.signIn(r, u); err != nil {
		h.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, localPath(f.Next, "/me"), http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if err := h.Sessions.Destroy(r.Context()); err != nil {
		h.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
