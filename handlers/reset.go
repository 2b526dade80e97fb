package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/a-h/templ"

	"captionai/db"
	"captionai/jobs"
	"captionai/views"
)

func (h *Handler) forgotPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, views.ForgotPage(false, "", ""))
}

// forgot queues the same job whatever the address: the worker looks the
// account up, so the answer and its timing do not tell which addresses
// have accounts.
func (h *Handler) forgot(w http.ResponseWriter, r *http.Request) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	if msg := checkEmail(email); msg != "" {
		h.render(w, r, http.StatusUnprocessableEntity, views.ForgotPage(false, email, msg))
		return
	}
	if h.limited(w, r, forgotsPerIP, clientIP(r).String(), 1) {
		return
	}
	over, err := h.quietlyLimited(r, resetMailsPerTo, strings.ToLower(email))
	if err == nil && !over {
		err = h.Jobs.Insert(r.Context(), jobs.ResetEmailArgs{Email: email})
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, views.ForgotPage(true, email, ""))
}

func (h *Handler) resetPage(w http.ResponseWriter, r *http.Request) {
	h.tokenPage(w, r, db.TokenReset, func(token string, ok bool) templ.Component { return views.ResetPage(token, "", ok) })
}

// tokenPage renders the page of a mailed link, 410 Gone when its token
// (?token=) is invalid, used or expired.
func (h *Handler) tokenPage(w http.ResponseWriter, r *http.Request, purpose string, page func(token string, ok bool) templ.Component) {
	token := r.URL.Query().Get("token")
	ok, err := h.Users.TokenValid(r.Context(), purpose, token)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusGone
	}
	h.render(w, r, status, page(token, ok))
}

// reset checks the token, hashes the new password, then spends the token
// and sets the password in one transaction. The token is checked before
// hashing, so bogus tokens cost no hash.
func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token, password := r.PostFormValue("token"), r.PostFormValue("password")
	if h.limited(w, r, resetsPerIP, clientIP(r).String(), 1) {
		return
	}
	ok, err := h.Users.TokenValid(ctx, db.TokenReset, token)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if !ok {
		h.render(w, r, http.StatusGone, views.ResetPage(token, "", false))
		return
	}
	if msg := checkPassword(password); msg != "" {
		h.render(w, r, http.StatusUnprocessableEntity, views.ResetPage(token, msg, true))
		return
	}
	hash, ok := h.newHash(w, r, password)
	if !ok {
		return
	}
	u, err := h.Users.UseResetToken(ctx, token, hash)
	if errors.Is(err, db.ErrTokenInvalid) {
		h.render(w, r, http.StatusGone, views.ResetPage(token, "", false))
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if err := h.Users.ClearLoginFailures(ctx, u.Email); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.flash(r, "Your password is changed. Sign in with the new one.")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
