package handlers

import (
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/google/uuid"

	"captionai/db"
	"captionai/jobs"
	"captionai/views"
)

// Sign-in throttling: failures counted over a window, per account and per
// address.
const (
	failureWindow     = 15 * time.Minute
	failuresPerEmail  = 5
	failuresPerIP     = 20
	minPasswordLength = 8
	maxPasswordLength = 1000
)

// dummyHash makes a sign-in for an unknown address cost as much as one for
// a known address, so timing does not tell which addresses have accounts.
// Made on first use, not at start-up: each hash costs 64 MB and a few ms.
var dummyHash = sync.OnceValue(func() string {
	h, _ := argon2id.CreateHash("not a password", argon2id.DefaultParams)
	return h
})

func checkCredentials(email, password string) string {
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return "Enter a valid email address, like name@example.com."
	}
	return checkPassword(password)
}

// checkPassword says what is wrong with a new password, if anything.
func checkPassword(password string) string {
	if len(password) < minPasswordLength {
		return "Choose a password of at least 8 characters."
	}
	if len(password) > maxPasswordLength {
		return "That password is too long (at most 1000 characters)."
	}
	return ""
}

func (h *Handler) signupPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, views.SignupPage(views.AuthForm{Next: r.URL.Query().Get("next")}))
}

// signup creates an account, claims the session's guest uploads in the same
// transaction, and signs in.
func (h *Handler) signup(w http.ResponseWriter, r *http.Request) {
	email, password := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	f := views.AuthForm{Email: email, Next: r.PostFormValue("next")}
	if msg := checkCredentials(email, password); msg != "" {
		f.Error = msg
		h.render(w, r, http.StatusUnprocessableEntity, views.SignupPage(f))
		return
	}
	hash, err := argon2id.CreateHash(password, argon2id.DefaultParams)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	v := viewerFrom(r.Context())
	u, err := h.Users.CreateUser(r.Context(), email, hash, h.isAdminEmail(email), v.GuestID)
	if errors.Is(err, db.ErrEmailTaken) {
		f.Error = "An account with this email address already exists. Sign in instead, or reset its password."
		h.render(w, r, http.StatusConflict, views.SignupPage(f))
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if err := h.signIn(r, u); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.Log.Info("account created", "user", u.ID, "claimed_guest", v.GuestID)
	h.flash(r, "Welcome! Your account is ready.")
	http.Redirect(w, r, localPath(f.Next, "/me"), http.StatusSeeOther)
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, views.LoginPage(views.AuthForm{Next: r.URL.Query().Get("next")}))
}

// login checks the password, throttled per account and per address, then
// claims the session's guest uploads and signs in.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	email, password := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	f := views.AuthForm{Email: email, Next: r.PostFormValue("next")}
	ip := clientIP(r)

	byEmail, byIP, err := h.Users.LoginFailures(ctx, email, ip, time.Now().Add(-failureWindow))
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if byEmail >= failuresPerEmail || byIP >= failuresPerIP {
		f.Error = "Too many failed sign-ins. Wait 15 minutes and try again, or reset your password."
		if byEmail < failuresPerEmail {
			f.Error = "Too many failed sign-ins from your network address. Wait 15 minutes and try again."
		}
		w.Header().Set("Retry-After", "900")
		h.render(w, r, http.StatusTooManyRequests, views.LoginPage(f))
		return
	}

	u, err := h.Users.UserByEmail(ctx, email)
	hash := u.PasswordHash
	if errors.Is(err, db.ErrNotFound) {
		hash = dummyHash()
	} else if err != nil {
		h.serverError(w, r, err)
		return
	}
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	if err != nil || !ok || u.ID == uuid.Nil {
		if err := h.Users.RecordLoginFailure(ctx, email, ip); err != nil {
			h.serverError(w, r, err)
			return
		}
		f.Error = "The email address or password is not right."
		h.render(w, r, http.StatusUnauthorized, views.LoginPage(f))
		return
	}

	if err := h.Users.ClearLoginFailures(ctx, email); err != nil {
		h.serverError(w, r, err)
		return
	}
	if admin := h.isAdminEmail(u.Email); admin && !u.IsAdmin {
		if err := h.Users.SetAdmin(ctx, u.ID, true); err != nil {
			h.serverError(w, r, err)
			return
		}
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

func (h *Handler) forgotPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, views.ForgotPage(false, "", ""))
}

// forgot answers the same whether or not the address has an account; a
// River job sends the mail.
func (h *Handler) forgot(w http.ResponseWriter, r *http.Request) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		h.render(w, r, http.StatusUnprocessableEntity, views.ForgotPage(false, email, "Enter a valid email address, like name@example.com."))
		return
	}
	u, err := h.Users.UserByEmail(r.Context(), email)
	switch {
	case err == nil:
		if err := h.Jobs.EnqueueResetEmail(r.Context(), u.ID); err != nil {
			h.serverError(w, r, err)
			return
		}
	case !errors.Is(err, db.ErrNotFound):
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, views.ForgotPage(true, email, ""))
}

func (h *Handler) resetPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	ok, err := h.Users.ResetTokenValid(r.Context(), jobs.HashResetToken(token))
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusGone
	}
	h.render(w, r, status, views.ResetPage(token, "", ok))
}

// reset spends the token and sets the new password, then signs in.
func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	token, password := r.PostFormValue("token"), r.PostFormValue("password")
	if msg := checkPassword(password); msg != "" {
		h.render(w, r, http.StatusUnprocessableEntity, views.ResetPage(token, msg, true))
		return
	}
	hash, err := argon2id.CreateHash(password, argon2id.DefaultParams)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	u, err := h.Users.UseResetToken(r.Context(), jobs.HashResetToken(token), hash)
	if errors.Is(err, db.ErrTokenInvalid) {
		h.render(w, r, http.StatusGone, views.ResetPage(token, "", false))
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if err := h.Users.ClearLoginFailures(r.Context(), u.Email); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.flash(r, "Your password is changed. Sign in with the new one.")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request) {
	v, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, views.AccountPage(views.AccountForms{Email: v.Email}))
}

func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) {
	v, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	forms := views.AccountForms{Email: v.Email}
	u, err := h.Users.UserByID(r.Context(), v.UserID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if match, err := argon2id.ComparePasswordAndHash(r.PostFormValue("current_password"), u.PasswordHash); err != nil || !match {
		forms.PasswordError = "Your current password is not right."
		h.render(w, r, http.StatusUnprocessableEntity, views.AccountPage(forms))
		return
	}
	password := r.PostFormValue("password")
	if msg := checkPassword(password); msg != "" {
		forms.PasswordError = msg
		h.render(w, r, http.StatusUnprocessableEntity, views.AccountPage(forms))
		return
	}
	hash, err := argon2id.CreateHash(password, argon2id.DefaultParams)
	if err == nil {
		err = h.Users.SetPassword(r.Context(), u.ID, hash)
	}
	if err == nil {
		err = h.Sessions.RenewToken(r.Context())
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	// This session stays signed in; the account's other sessions are signed out.
	h.Sessions.Put(r.Context(), sessPassword, passwordStamp(hash))
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
		h.render(w, r, http.StatusUnprocessableEntity, views.AccountPage(views.AccountForms{Email: v.Email,
			DeleteError: "Type DELETE (in capitals) to confirm. Nothing was deleted."}))
		return
	}
	if err := h.Users.DeleteUser(r.Context(), v.UserID, h.Jobs.DeleteFilesTx); err != nil {
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
