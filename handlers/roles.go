package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/views"
	"captionai/vocab"
)

// adminUsers lists the accounts for staff, searched by email, with their
// counts; admins also change roles there.
func (h *Handler) adminUsers(w http.ResponseWriter, r *http.Request) {
	v, ok := h.requireStaff(w, r)
	if !ok {
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	us, err := h.Users.UserSummaries(r.Context(), q, 200)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	rows := make([]views.UserRow, len(us))
	for i, u := range us {
		rows[i] = views.UserRow{ID: u.ID.String(), Email: u.Email, Role: u.Role, Verified: u.Verified(), CreatedAt: u.CreatedAt,
			Banned: u.BannedAt != nil, BanReason: u.BanReason, Uploads: u.Uploads, ReportsAgainst: u.ReportsAgainst, ReportsFiled: u.ReportsFiled}
	}
	h.render(w, r, http.StatusOK, views.UsersPage(rows, q, v.IsAdmin()))
}

// setRole grants or revokes a role; the account's sessions are signed out.
func (h *Handler) setRole(w http.ResponseWriter, r *http.Request) {
	v := viewerFrom(r.Context())
	if !v.IsAdmin() {
		h.notFound(w, r)
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		h.notFound(w, r)
		return
	}
	role := r.PostFormValue("role")
	if !vocab.ValidRole(role) {
		h.fail(w, r, http.StatusUnprocessableEntity, "Unknown role", "Choose user, moderator or admin.")
		return
	}
	u, err := h.Users.SetRole(r.Context(), id, role, v.UserID.String(), false, &db.Audit{Actor: v.UserID, ActorEmail: v.Email})
	switch {
	case errors.Is(err, db.ErrNotFound):
		h.notFound(w, r)
		return
	case errors.Is(err, db.ErrUnverified):
		h.fail(w, r, http.StatusConflict, "Address not verified",
			"This account has not confirmed its email address, so it cannot hold a role. Nothing was changed.")
		return
	case err != nil:
		h.serverError(w, r, err)
		return
	}
	h.Log.Info("role set", "user", u.ID, "role", role, "by", v.UserID)
	if u.ID == v.UserID {
		// Changing one's own role signs out the other sessions, not this one.
		if err := h.signIn(r, u); err != nil {
			h.serverError(w, r, err)
			return
		}
	}
	h.flash(r, u.Email+" is now "+role+".")
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
}
