package handlers

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"captionai/db"
	"captionai/jobs"
	"captionai/vocab"
)

// dismiss closes an image's reports with nothing done.
func (h *Handler) dismiss(w http.ResponseWriter, r *http.Request) {
	v, img, ok := h.staffImage(w, r)
	if !ok {
		return
	}
	err := h.moderate(r.Context(), v, db.Audit{Action: vocab.ActDismiss, TargetImage: img.ID, Reason: r.PostFormValue("reason")}, func(tx pgx.Tx) error {
		return db.ResolveReportsTx(r.Context(), tx, img.ID, v.UserID, vocab.ActDismiss)
	})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.backTo(w, r, "/admin/reports", "The reports are dismissed.")
}

// staffDelete deletes an image as moderation: recorded, reports resolved
// (they go with the image), the file's deletion queued.
func (h *Handler) staffDelete(w http.ResponseWriter, r *http.Request) {
	v, img, ok := h.staffImage(w, r)
	if !ok {
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	err := h.moderate(r.Context(), v, db.Audit{Action: vocab.ActDelete, TargetImage: img.ID, Reason: reason}, func(tx pgx.Tx) error {
		keys, err := db.DeleteImageTx(r.Context(), tx, img.ID)
		if err == nil && len(keys) > 0 {
			_, err = h.Jobs.InsertManyTx(r.Context(), tx, jobs.DeleteFilesArgs{Keys: keys})
		}
		return err
	})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.backTo(w, r, "/admin/reports", "The photo is deleted.")
}

// fixCaption replaces a wrong or offensive caption and resolves the
// image's reports.
func (h *Handler) fixCaption(w http.ResponseWriter, r *http.Request) {
	v, img, ok := h.staffImage(w, r)
	if !ok {
		return
	}
	text := strings.TrimSpace(r.PostFormValue("text"))
	if n := utf8.RuneCountInString(text); n < 1 || n > 300 {
		h.fail(w, r, http.StatusUnprocessableEntity, "Caption needed", "Write a caption of 1 to 300 characters.")
		return
	}
	err := h.moderate(r.Context(), v, db.Audit{Action: vocab.ActFixCaption, TargetImage: img.ID}, func(tx pgx.Tx) error {
		if err := db.SetCaptionTx(r.Context(), tx, img.ID, text, vocab.ByStaff, v.UserID); err != nil {
			return err
		}
		return db.ResolveReportsTx(r.Context(), tx, img.ID, v.UserID, vocab.ActFixCaption)
	})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.backTo(w, r, "/admin/reports", "The caption is fixed.")
}
