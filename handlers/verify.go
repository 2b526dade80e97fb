package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"captionai/db"
	"captionai/jobs"
	"captionai/views"
	"captionai/vocab"
)

// verifyPage asks to confirm the address. Confirming takes the account's
// session as well as the mailed token, so it first asks to sign in; and it
// takes a POST, so a mail scanner that opens links does not use it up.
func (h *Handler) verifyPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if !viewerFrom(r.Context()).SignedIn() {
		h.flash(r, "Sign in to confirm your address.")
		http.Redirect(w, r, "/login?next="+url.QueryEscape("/verify?token="+token), http.StatusSeeOther)
		return
	}
	h.tokenPage(w, r, db.TokenVerify, views.VerifyPage)
}

// verify spends the token of the signed-in account and marks its address
// verified.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	if h.limited(w, r, verifyAttemptsPer, clientIP(r).String(), 1) {
		return
	}
	u, err := h.Users.UseVerifyToken(ctx, r.PostFormValue("token"), v.UserID)
	if errors.Is(err, db.ErrTokenInvalid) {
		h.render(w, r, http.StatusGone, views.VerifyPage("", false))
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.Log.Info("address verified", "user", u.ID)
	if u, err = h.bootstrapAdmin(ctx, u); err == nil {
		err = h.signIn(r, u) // a role change signed out every session, this one too
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.flash(r, "Thank you: "+u.Email+" is confirmed.")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// bootstrapAdmin makes a verified account on ADMIN_EMAILS an admin.
func (h *Handler) bootstrapAdmin(ctx context.Context, u db.User) (db.User, error) {
	if !u.Verified() || u.Role == vocab.Admin || !h.isAdminEmail(u.Email) {
		return u, nil
	}
	u, err := h.Users.SetRole(ctx, u.ID, vocab.Admin, db.BootstrapGranter, false, &db.Audit{ActorEmail: db.BootstrapGranter})
	if err == nil {
		h.Log.Info("role granted", "user", u.ID, "role", vocab.Admin, "by", db.BootstrapGranter)
	}
	return u, err
}

func (h *Handler) isAdminEmail(email string) bool {
	for _, e := range h.AdminEmails {
		if strings.EqualFold(e, email) {
			return true
		}
	}
	return false
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
