package handlers

import (
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"

	"captionai/db"
	"captionai/vocab"
)

// hide takes an image out of everyone's sight but its owner's and staff's,
// with a reason the owner sees, and resolves its reports.
func (h *Handler) hide(w http.ResponseWriter, r *http.Request) {
	v, img, ok := h.staffImage(w, r)
	if !ok {
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" || len(reason) > 300 {
		h.fail(w, r, http.StatusUnprocessableEntity, "Reason needed", "Say why the photo is hidden (up to 300 characters): its uploader sees it.")
		return
	}
	err := h.moderate(r.Context(), v, db.Audit{Action: vocab.ActHide, TargetImage: img.ID, Reason: reason}, func(tx pgx.Tx) error {
		if err := db.SetModerationTx(r.Context(), tx, img.ID, vocab.Hidden, reason); err != nil {
			return err
		}
		return db.ResolveReportsTx(r.Context(), tx, img.ID, v.UserID, vocab.ActHide)
	})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.backTo(w, r, "/admin/reports", "The photo is hidden.")
}

// unhide shows a hidden image again.
func (h *Handler) unhide(w http.ResponseWriter, r *http.Request) {
	h.setModeration(w, r, vocab.ActUnhide, "The photo is shown again.")
}

// approve releases an image held for review; its reports are resolved.
func (h *Handler) approve(w http.ResponseWriter, r *http.Request) {
	h.setModeration(w, r, vocab.ActApprove, "The photo is approved.")
}

// setModeration makes an image visible as its visibility says (unhide,
// approve), resolving its reports for approve.
func (h *Handler) setModeration(w http.ResponseWriter, r *http.Request, action, done string) {
	v, img, ok := h.staffImage(w, r)
	if !ok {
		return
	}
	err := h.moderate(r.Context(), v, db.Audit{Action: action, TargetImage: img.ID, Reason: r.PostFormValue("reason")}, func(tx pgx.Tx) error {
		if err := db.SetModerationTx(r.Context(), tx, img.ID, vocab.ModOK, ""); err != nil {
			return err
		}
		if action == vocab.ActApprove {
			return db.ResolveReportsTx(r.Context(), tx, img.ID, v.UserID, action)
		}
		return nil
	})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.backTo(w, r, "/admin/reports", done)
}
