package handlers

import (
	"errors"
	"net/http"
	"strings"

	"captionai/db"
	"captionai/jobs"
	"captionai/views"
)

// verifyPage asks to confirm the address. Spending the token takes a POST,
// so a mail scanner that opens links does not use it up.
func (h *Handler) verifyPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	ok, err := h.Users.TokenValid(r.Context(), db.TokenVerify, token)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusGone
	}
	h.render(w, r, status, views.VerifyPage(token, ok))
}

// verify spends the token and marks the address verified. An address on
// ADMIN_EMAILS becomes an admin only now that it is verified.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if h.limited(w, r, verifyAttemptsPer, clientIP(r).String(), 1) {
		return
	}
	u, err := h.Users.UseVerifyToken(ctx, r.PostFormValue("token"))
	if errors.Is(err, db.ErrTokenInvalid) {
		h.render(w, r, http.StatusGone, views.VerifyPage("", false))
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if h.isAdminEmail(u.Email) && u.Role != db.RoleAdmin {
		if u, err = h.Users.SetRole(ctx, u.ID, db.RoleAdmin, db.BootstrapGranter, false); err != nil {
			h.serverError(w, r, err)
			return
		}
		h.Log.Info("role granted", "user", u.ID, "role", db.RoleAdmin, "by", db.BootstrapGranter)
		// The role change signed out every session; keep this one if it is the account's.
		if viewerFrom(ctx).UserID == u.ID {
			if err := h.signIn(r, u); err != nil {
				h.serverError(w, r, err)
				return
			}
		}
	}
	h.Log.Info("address verified", "user", u.ID)
	h.flash(r, "Thank you: "+u.Email+" is confirmed.")
	next := "/login"
	if viewerFrom(ctx).UserID == u.ID {
		next = "/account"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// resendVerification mails a signed-in, unverified account a new link.
func (h *Handler) resendVerification(w http.ResponseWriter, r *http.Request) {
	v, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	if v.Verified {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	if h.limited(w, r, verifyMailsPerTo, v.UserID.String(), 1) {
		return
	}
	if err := h.Jobs.Insert(r.Context(), jobs.VerifyEmailArgs{UserID: v.UserID}); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.flash(r, "We sent a new confirmation link to "+v.Email+".")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func (h *Handler) isAdminEmail(email string) bool {
	for _, e := range h.AdminEmails {
		if strings.EqualFold(e, email) {
			return true
		}
	}
	return false
}
