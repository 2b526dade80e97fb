package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"captionai/db"
	"captionai/views"
)

// captionHistory lists every caption the image has had.
func (h *Handler) captionHistory(w http.ResponseWriter, r *http.Request) {
	img, ok := h.loadImage(w, r)
	if !ok {
		return
	}
	versions, err := h.DB.CaptionHistory(r.Context(), img.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	v := viewerFrom(r.Context())
	rows := make([]views.CaptionVersion, len(versions))
	for i, c := range versions {
		rows[i] = views.CaptionVersion{ID: c.ID, Text: c.Text, Source: c.Source, Model: c.Model, Author: c.AuthorEmail,
			At: c.CreatedAt, Good: c.Good, Bad: c.Bad, Current: c.Current, Confidence: c.Confidence, Certainty: c.Certainty}
	}
	h.render(w, r, http.StatusOK, views.CaptionHistoryPage(toView(img, v), rows))
}

// restoreCaption makes an earlier version current again (owner and staff).
func (h *Handler) restoreCaption(w http.ResponseWriter, r *http.Request) {
	_, img, ok := h.captionFixer(w, r)
	if !ok {
		return
	}
	version, err := strconv.ParseInt(r.PathValue("version"), 10, 64)
	if err != nil {
		h.notFound(w, r)
		return
	}
	tx, err := h.DB.Begin(r.Context())
	if err == nil {
		defer tx.Rollback(r.Context())
		if err = db.RestoreCaptionTx(r.Context(), tx, img.ID, version); err == nil {
			err = tx.Commit(r.Context())
		}
	}
	switch {
	case errors.Is(err, db.ErrNotFound):
		h.notFound(w, r)
		return
	case err != nil:
		h.serverError(w, r, err)
		return
	}
	h.flash(r, "That caption is back.")
	http.Redirect(w, r, "/images/"+img.ID.String()+"/captions", http.StatusSeeOther)
}
