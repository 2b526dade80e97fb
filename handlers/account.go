package handlers

import (
	"errors"
	"net/http"

	"github.com/jackc/pgx/v5"

	"captionai/db"

	"captionai/views"
)

func (h *Handler) accountForms(v Viewer) views.AccountForms {
	return views.AccountForms{Email: v.Email, Verified: v.Verified, Role: v.Role, DisplayName: v.DisplayName}
}

func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request) {
	v, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, views.AccountPage(h.accountForms(v)))
}

func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	if h.limited(w, r, passwordChangesIP, clientIP(r).String(), 1) || h.limited(w, r, passwordChanges, v.UserID.String(), 1) {
		return
	}
	forms := h.accountForms(v)
	password := r.PostFormValue("password")
	if msg := checkPassword(password); msg != "" {
		forms.PasswordError = msg
		h.render(w, r, http.StatusUnprocessableEntity, views.AccountPage(forms))
		return
	}
	u, err := h.Users.UserByID(ctx, v.UserID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	match, err := passwordMatches(ctx, r.PostFormValue("current_password"), u.PasswordHash)
	if errors.Is(err, errBusy) {
		h.busy(w, r)
		return
	}
	if err != nil || !match {
		forms.PasswordError = "Your current password is not right."
		h.render(w, r, http.StatusUnprocessableEntity, views.AccountPage(forms))
		return
	}
	hash, ok := h.newHash(w, r, password)
	if !ok {
		return
	}
	if err := h.Users.SetPassword(ctx, u.ID, hash); err != nil {
		h.serverError(w, r, err)
		return
	}
	// This session stays signed in; the account's other sessions are signed out.
	u.PasswordHash = hash
	if err := h.signIn(r, u); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.flash(r, "Your password is changed. Other devices signed in to this account are signed out.")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// deleteAccount removes the account, its images and (through a job queued
// in the same transaction) their files.
func (h *Handler) deleteAccount(w http.ResponseWriter, r *http.Request) {
	v, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != "DELETE" {
		forms := h.accountForms(v)
		forms.DeleteError = "Type DELETE (in capitals) to confirm. Nothing was deleted."
		h.render(w, r, http.StatusUnprocessableEntity, views.AccountPage(forms))
		return
	}
	err := h.deleteTx(r.Context(), func(tx pgx.Tx) ([]string, error) { return db.DeleteUserTx(r.Context(), tx, v.UserID) })
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if err := h.Sessions.Destroy(r.Context()); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.Log.Info("account deleted", "user", v.UserID)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
