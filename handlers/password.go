package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"runtime"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"
)

const (
	minPasswordLength = 8
	maxPasswordLength = 1000
	// hashWait is how long a request waits for a free hashing slot before
	// it is told to come back (503).
	hashWait = 5 * time.Second
)

// errBusy means every password hashing slot stayed taken for hashWait.
var errBusy = errors.New("too many password checks at once")

// Each argon2id hash takes 64 MB; at most one per CPU runs at once, so
// memory stays bounded however many sign-ins arrive together.
var hashSlots = make(chan struct{}, runtime.NumCPU())

func withHashSlot(ctx context.Context, f func()) error {
	ctx, cancel := context.WithTimeout(ctx, hashWait)
	defer cancel()
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return errBusy
	}
	defer func() { <-hashSlots }()
	f()
	return nil
}

// hashPassword makes a new argon2id hash, in a hashing slot.
func hashPassword(ctx context.Context, password string) (hash string, err error) {
	if serr := withHashSlot(ctx, func() { hash, err = argon2id.CreateHash(password, argon2id.DefaultParams) }); serr != nil {
		return "", serr
	}
	return hash, err
}

// newHash hashes a new password for a request, answering 503 (slots
// full) or 500 itself; ok is false when it has answered.
func (h *Handler) newHash(w http.ResponseWriter, r *http.Request, password string) (hash string, ok bool) {
	hash, err := hashPassword(r.Context(), password)
	switch {
	case errors.Is(err, errBusy):
		h.busy(w, r)
		return "", false
	case err != nil:
		h.serverError(w, r, err)
		return "", false
	}
	return hash, true
}

// passwordMatches checks a password against a hash, in a hashing slot. An
// empty hash (no such account) is checked against a dummy one, so the time
// taken does not tell which addresses have accounts.
func passwordMatches(ctx context.Context, password, hash string) (ok bool, err error) {
	if hash == "" {
		hash = dummyHash()
	}
	if serr := withHashSlot(ctx, func() { ok, err = argon2id.ComparePasswordAndHash(password, hash) }); serr != nil {
		return false, serr
	}
	return ok, err
}

// dummyHash is made on first use, not at start-up: each hash costs 64 MB
// and a few ms.
var dummyHash = sync.OnceValue(func() string {
	h, _ := argon2id.CreateHash("not a password", argon2id.DefaultParams)
	return h
})

func checkCredentials(email, password string) string {
	if msg := checkEmail(email); msg != "" {
		return msg
	}
	return checkPassword(password)
}

func checkEmail(email string) string {
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return "Enter a valid email address, like name@example.com."
	}
	return ""
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
