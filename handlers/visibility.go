package handlers

import (
	"net/http"

	"github.com/jackc/pgx/v5"

	"captionai/db"
	"captionai/views"
	"captionai/vocab"
)

// setVisibility lets the owner (or an admin) change who sees an image.
func (h *Handler) setVisibility(w http.ResponseWriter, r *http.Request) {
	img, ok := h.loadImage(w, r)
	if !ok {
		return
	}
	if !viewerFrom(r.Context()).CanEdit(img) {
		h.fail(w, r, http.StatusForbidden, "Not yours", "Only the person who uploaded this photo can change it.")
		return
	}
	if img.Moderation == vocab.Hidden && !viewerFrom(r.Context()).IsStaff() {
		h.fail(w, r, http.StatusForbidden, "Hidden by a moderator",
			"Hidden by a moderator: "+img.ModReason+" Its visibility cannot be changed while it is hidden.")
		return
	}
	vis := r.PostFormValue("visibility")
	if !vocab.ValidVisibility(vis) {
		h.fail(w, r, http.StatusUnprocessableEntity, "Unknown visibility", "Choose public, unlisted or private.")
		return
	}
	if err := h.DB.SetVisibility(r.Context(), img.ID, vis); err != nil {
		h.serverError(w, r, err)
		return
	}
	if v := viewerFrom(r.Context()); !v.Owns(img) { // an admin moderating: on the record
		if err := h.Users.Audit(r.Context(), db.Audit{Actor: v.UserID, ActorEmail: v.Email, Action: vocab.ActSetVisibility,
			TargetImage: img.ID, Reason: "now " + vis}); err != nil {
			h.serverError(w, r, err)
			return
		}
	}
	h.flash(r, "Saved: this photo is now "+vis+".")
	http.Redirect(w, r, "/images/"+img.ID.String(), http.StatusSeeOther)
}

// deleteImage lets the owner or an admin remove an image; its file goes
// through a job queued in the same transaction.
func (h *Handler) deleteImage(w http.ResponseWriter, r *http.Request) {
	img, ok := h.loadImage(w, r)
	if !ok {
		return
	}
	if !viewerFrom(r.Context()).CanEdit(img) {
		h.fail(w, r, http.StatusForbidden, "Not yours", "Only the person who uploaded this photo can delete it.")
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		h.render(w, r, http.StatusOK, views.ConfirmDeletePage(toView(img, viewerFrom(r.Context()))))
		return
	}
	v := viewerFrom(r.Context())
	err := h.deleteTx(r.Context(), func(tx pgx.Tx) ([]string, error) {
		if !v.Owns(img) { // an admin moderating: on the record, in the same transaction
			if err := db.AuditTx(r.Context(), tx, db.Audit{Actor: v.UserID, ActorEmail: v.Email, Action: vocab.ActDelete, TargetImage: img.ID}); err != nil {
				return nil, err
			}
		}
		return db.DeleteImageTx(r.Context(), tx, img.ID)
	})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.flash(r, "The photo was deleted.")
	next := "/me"
	if !viewerFrom(r.Context()).Owns(img) {
		next = "/admin" // an admin moderating
	}
	if isHTMX(r) {
		w.Header().Set("HX-Redirect", next)
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}
