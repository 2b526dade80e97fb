package handlers

import (
	"errors"
	"net/http"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/views"
	"captionai/vocab"
)

// adminUsers lists the accounts with their roles, for admins only.
func (h *Handler) adminUsers(w http.ResponseWriter, r *http.Request) {
	if !viewerFrom(r.Context()).IsAdmin() {
		h.notFound(w, r)
		return
	}
	us, err := h.Users.Users(r.Context(), 500)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	rows := make([]views.UserRow, len(us))
	for i, u := range us {
		rows[i] = views.UserRow{ID: u.ID.String(), Email: u.Email, Role: u.Role, Verified: u.Verified(), CreatedAt: u.CreatedAt}
	}
	h.render(w, r, http.StatusOK, views.AdminUsersPage(rows, vocab.Roles))
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
	u, err := h.Users.SetRole(r.Context(), id, role, v.UserID.String(), false)
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
