package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"captionai/db"
)

// requireStaff answers 404 to anyone but moderators and admins: to them
// the moderation pages do not exist.
func (h *Handler) requireStaff(w http.ResponseWriter, r *http.Request) (Viewer, bool) {
	v := viewerFrom(r.Context())
	if !v.IsStaff() {
		h.notFound(w, r)
		return v, false
	}
	return v, true
}

// staffImage loads the {id} image for a staff action (404 for anyone else).
func (h *Handler) staffImage(w http.ResponseWriter, r *http.Request) (Viewer, db.Image, bool) {
	v, ok := h.requireStaff(w, r)
	if !ok {
		return v, db.Image{}, false
	}
	img, ok := h.loadImage(w, r)
	return v, img, ok
}

// staffUser loads the {id} account for a staff action (404 for anyone else).
func (h *Handler) staffUser(w http.ResponseWriter, r *http.Request) (Viewer, db.User, bool) {
	v, ok := h.requireStaff(w, r)
	if !ok {
		return v, db.User{}, false
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		h.notFound(w, r)
		return v, db.User{}, false
	}
	u, err := h.Users.UserByID(r.Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		h.notFound(w, r)
		return v, db.User{}, false
	}
	if err != nil {
		h.serverError(w, r, err)
		return v, db.User{}, false
	}
	return v, u, true
}

// moderate runs a staff action in one transaction with its audit record,
// which names v as the actor.
func (h *Handler) moderate(ctx context.Context, v Viewer, a db.Audit, act func(pgx.Tx) error) error {
	tx, err := h.DB.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := act(tx); err != nil {
		return err
	}
	a.Actor, a.ActorEmail = v.UserID, v.Email
	if err := db.AuditTx(ctx, tx, a); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// backTo redirects to the form's next field if it is a local path, else to
// fallback, with a flash message.
func (h *Handler) backTo(w http.ResponseWriter, r *http.Request, fallback, message string) {
	h.flash(r, message)
	http.Redirect(w, r, localPath(r.PostFormValue("next"), fallback), http.StatusSeeOther)
}
