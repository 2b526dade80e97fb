package handlers

import (
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"

	"captionai/db"
	"captionai/vocab"
)

// ban bans an account: it cannot sign in or upload, its sessions end and
// its public images are hidden. Only admins ban staff; nobody bans
// themselves.
func (h *Handler) ban(w http.ResponseWriter, r *http.Request) {
	v, u, ok := h.staffUser(w, r)
	if !ok {
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	switch {
	case u.ID == v.UserID:
		h.fail(w, r, http.StatusForbidden, "Not yourself", "You cannot ban your own account.")
		return
	case u.Role != vocab.User && !v.IsAdmin():
		h.fail(w, r, http.StatusForbidden, "Admins only", "Only an admin can ban a moderator or an admin.")
		return
	case reason == "" || len(reason) > 300:
		h.fail(w, r, http.StatusUnprocessableEntity, "Reason needed", "Say why the account is banned (up to 300 characters): its owner sees it when signing in.")
		return
	}
	var hidden int64
	err := h.moderate(r.Context(), v, db.Audit{Action: vocab.ActBan, TargetUser: u.ID, TargetEmail: u.Email, Reason: reason}, func(tx pgx.Tx) (err error) {
		hidden, err = db.BanUserTx(r.Context(), tx, u.ID, reason)
		return err
	})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.Log.Info("account banned", "user", u.ID, "by", v.UserID, "images_hidden", hidden)
	h.backTo(w, r, "/admin/users", u.Email+" is banned; their sessions are ended and their public photos hidden.")
}

// unban lifts a ban and shows again what it hid.
func (h *Handler) unban(w http.ResponseWriter, r *http.Request) {
	v, u, ok := h.staffUser(w, r)
	if !ok {
		return
	}
	if u.Role != vocab.User && !v.IsAdmin() {
		h.fail(w, r, http.StatusForbidden, "Admins only", "Only an admin can unban a moderator or an admin.")
		return
	}
	err := h.moderate(r.Context(), v, db.Audit{Action: vocab.ActUnban, TargetUser: u.ID, TargetEmail: u.Email, Reason: r.PostFormValue("reason")}, func(tx pgx.Tx) error {
		return db.UnbanUserTx(r.Context(), tx, u.ID)
	})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.backTo(w, r, "/admin/users", u.Email+" is no longer banned.")
}
