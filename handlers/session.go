package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/google/uuid"

	"captionai/db"
)

// Session keys.
const (
	sessUser  = "user_id"
	sessStamp = "stamp" // sessionStamp of the account when the session signed in
	sessGuest = "guest_id"
	sessFlash = "flash"
)

// signIn makes the session an account's: a new token (no fixation), the
// guest identity dropped since its uploads were claimed.
func (h *Handler) signIn(r *http.Request, u db.User) error {
	ctx := r.Context()
	if err := h.Sessions.RenewToken(ctx); err != nil {
		return err
	}
	h.Sessions.Remove(ctx, sessGuest)
	h.Sessions.Put(ctx, sessUser, u.ID.String())
	h.Sessions.Put(ctx, sessStamp, sessionStamp(u))
	return nil
}

// sessionStamp identifies the account's password hash and session epoch
// without storing either in the session. Each new hash has a new salt and
// a role change bumps the epoch, so either signs out the account's other
// sessions.
func sessionStamp(u db.User) string {
	sum := sha256.Sum256([]byte(u.PasswordHash + "\x00" + strconv.Itoa(u.SessionEpoch)))
	return hex.EncodeToString(sum[:12])
}

// guestID returns the viewer's guest identity, creating one for a first
// anonymous upload.
func (h *Handler) guestID(r *http.Request) (uuid.UUID, error) {
	v := viewerFrom(r.Context())
	if v.GuestID != uuid.Nil {
		return v.GuestID, nil
	}
	id := uuid.New()
	if err := h.Sessions.RenewToken(r.Context()); err != nil {
		return uuid.Nil, err
	}
	h.Sessions.Put(r.Context(), sessGuest, id.String())
	return id, nil
}

func (h *Handler) flash(r *http.Request, msg string) { h.Sessions.Put(r.Context(), sessFlash, msg) }

// clientIP is the client's address: the peer's, or the forwarded one that
// clientAddr put in its place for a request from a trusted proxy.
func clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil {
		return ap.Addr().Unmap()
	}
	a, err := netip.ParseAddr(r.RemoteAddr)
	if err == nil {
		return a.Unmap()
	}
	return netip.IPv4Unspecified()
}
