package handlers

import (
	"net/http"
	"strings"

	"github.com/riverqueue/river"

	"captionai/db"
	"captionai/jobs"
	"captionai/views"
)

func (h *Handler) signupPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, views.SignupPage(views.AuthForm{Next: r.URL.Query().Get("next")}))
}

// signup creates an unverified account and mails it a verification link.
// For an address that already has an account it mails the owner instead,
// and answers exactly the same, after the same work, so the page does not
// tell strangers which addresses have accounts.
func (h *Handler) signup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	email, password := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	f := views.AuthForm{Email: email, Next: r.PostFormValue("next")}
	if msg := checkCredentials(email, password); msg != "" {
		f.Error = msg
		h.render(w, r, http.StatusUnprocessableEntity, views.SignupPage(f))
		return
	}
	if h.limited(w, r, signupsPerIP, clientIP(r).String(), 1) {
		return
	}
	hash, ok := h.newHash(w, r, password)
	if !ok {
		return
	}
	over, err := h.quietlyLimited(r, signupMailsPerTo, strings.ToLower(email))
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	tx, err := h.DB.Begin(ctx)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	defer tx.Rollback(ctx)
	u, created, err := db.CreateUserTx(ctx, tx, email, hash)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	var mail river.JobArgs = jobs.AccountExistsArgs{UserID: u.ID}
	if created {
		mail = jobs.VerifyEmailArgs{UserID: u.ID}
	}
	if !over {
		if _, err := h.Jobs.InsertManyTx(ctx, tx, mail); err != nil {
			h.serverError(w, r, err)
			return
		}
	}
	if err := tx.Commit(ctx); err != nil {
		h.serverError(w, r, err)
		return
	}
	if created {
		h.Log.Info("account created", "user", u.ID)
	}
	h.render(w, r, http.StatusOK, views.SignupSent(email))
}
