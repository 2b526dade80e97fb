package handlers

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"captionai/db"
)

// Per-address limits of the account forms, and per-address limits on the
// mail they send to one address (over those, the page answers the same
// but no mail goes out, so nobody can flood an inbox through us).
var (
	signupsPerIP      = db.Limit{Action: "signup", Max: 10, Window: time.Hour}
	signupMailsPerTo  = db.Limit{Action: "signup-mail", Max: 3, Window: 24 * time.Hour}
	forgotsPerIP      = db.Limit{Action: "forgot", Max: 10, Window: time.Hour}
	resetMailsPerTo   = db.Limit{Action: "reset-mail", Max: 3, Window: time.Hour}
	resetsPerIP       = db.Limit{Action: "reset", Max: 20, Window: time.Hour}
	passwordChanges   = db.Limit{Action: "password-change", Max: 10, Window: time.Hour} // per account
	passwordChangesIP = db.Limit{Action: "password-change-ip", Max: 20, Window: time.Hour}
	verifyMailsPerTo  = db.Limit{Action: "verify-mail", Max: 3, Window: time.Hour}
	verifyAttemptsPer = db.Limit{Action: "verify", Max: 30, Window: time.Hour}
)

// guestUploads is the guests' upload quota per address.
func (h *Handler) guestUploads() db.Limit {
	return db.Limit{Action: "guest-upload", Max: h.Limits.GuestUploads, Window: time.Hour}
}

// limited takes n events of l for key and reports whether the request is
// over the limit, in which case it has answered 429.
func (h *Handler) limited(w http.ResponseWriter, r *http.Request, l db.Limit, key string, n int) bool {
	wait, err := h.Rates.Take(r.Context(), l, key, n)
	if err != nil {
		h.serverError(w, r, err)
		return true
	}
	if wait > 0 {
		h.tooMany(w, r, wait, "You have tried this too often from your network address. Try again in "+waitText(wait)+".")
		return true
	}
	return false
}

// quietlyLimited takes one event of l for key and reports whether it was
// over the limit, answering nothing: for mail that must not tell whether
// it was sent.
func (h *Handler) quietlyLimited(r *http.Request, l db.Limit, key string) (bool, error) {
	wait, err := h.Rates.Take(r.Context(), l, key, 1)
	return wait > 0, err
}

// tooMany answers 429 with a Retry-After of wait.
func (h *Handler) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration, message string) {
	w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
	h.fail(w, r, http.StatusTooManyRequests, "Too many requests", message)
}

// busy answers 503 when the password hashing slots stayed full.
func (h *Handler) busy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "5")
	h.fail(w, r, http.StatusServiceUnavailable, "Server busy",
		"The server is checking many passwords right now. Nothing was changed; please try again in a few seconds.")
}

func retrySeconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }

// waitText is a wait in words: "3 seconds", "2 minutes".
func waitText(d time.Duration) string {
	s := retrySeconds(d)
	switch {
	case s == 1:
		return "1 second"
	case s < 90:
		return fmt.Sprintf("%d seconds", s)
	default:
		return fmt.Sprintf("%d minutes", int(math.Ceil(float64(s)/60)))
	}
}
