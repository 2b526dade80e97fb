package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"captionai/db"
	"captionai/jobs"
	"captionai/views"
	"captionai/vocab"
)

// captionFixer loads the {id} image for its owner or staff: 403 for other
// viewers who see it, 404 for the rest.
func (h *Handler) captionFixer(w http.ResponseWriter, r *http.Request) (Viewer, db.Image, bool) {
	img, ok := h.loadImage(w, r)
	if !ok {
		return Viewer{}, img, false
	}
	v := viewerFrom(r.Context())
	if !v.Owns(img) && !v.IsStaff() {
		h.fail(w, r, http.StatusForbidden, "Not yours", "Only the person who uploaded this photo, or a moderator, can change its caption.")
		return v, img, false
	}
	return v, img, true
}

// editCaption replaces the caption with the owner's (or staff's) own
// words, as a new version: the model's stays in the history.
func (h *Handler) editCaption(w http.ResponseWriter, r *http.Request) {
	v, img, ok := h.captionFixer(w, r)
	if !ok {
		return
	}
	text := strings.Join(strings.Fields(r.PostFormValue("text")), " ")
	if n := utf8.RuneCountInString(text); n < 1 || n > 300 {
		h.fail(w, r, http.StatusUnprocessableEntity, "Caption not saved", "Write a caption of 1 to 300 characters. Nothing was changed.")
		return
	}
	source := vocab.ByOwner
	if !v.Owns(img) {
		source = vocab.ByStaff
	}
	tx, err := h.DB.Begin(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	defer tx.Rollback(r.Context())
	if err := db.SetCaptionTx(r.Context(), tx, img.ID, text, source, v.UserID); err != nil {
		h.serverError(w, r, err)
		return
	}
	if err := tx.Commit(r.Context()); err != nil {
		h.serverError(w, r, err)
		return
	}
	if isHTMX(r) {
		// A person's caption has no confidence: shown plainly.
		img.Caption, img.CaptionSrc, img.Confidence, img.Certainty = text, source, nil, ""
		h.render(w, r, http.StatusOK, views.ImageUpdate(toView(img, v)))
		return
	}
	h.flash(r, "Caption saved.")
	http.Redirect(w, r, "/images/"+img.ID.String(), http.StatusSeeOther)
}

// rate records a signed-in viewer's vote on the current caption.
func (h *Handler) rate(w http.ResponseWriter, r *http.Request) {
	img, ok := h.loadImage(w, r)
	if !ok {
		return
	}
	v := viewerFrom(r.Context())
	if !v.SignedIn() {
		h.fail(w, r, http.StatusUnauthorized, "Sign in to rate", "Sign in to rate captions.")
		return
	}
	rating := r.PostFormValue("rating")
	if rating != vocab.Good && rating != vocab.Bad {
		h.fail(w, r, http.StatusUnprocessableEntity, "Unknown rating", "Rate the caption good or bad.")
		return
	}
	err := h.DB.Rate(r.Context(), img.ID, v.UserID, rating)
	if errors.Is(err, db.ErrNotFound) {
		h.fail(w, r, http.StatusConflict, "No caption yet", "This photo has no caption to rate yet.")
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if isHTMX(r) {
		ratings, err := h.DB.CaptionRatings(r.Context(), img.ID, v.UserID)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		view := toView(img, v)
		view.Ratings = views.Ratings{Good: ratings.Good, Bad: ratings.Bad, Mine: ratings.Mine}
		h.render(w, r, http.StatusOK, views.RatingForm(view))
		return
	}
	h.flash(r, "Thank you for rating the caption.")
	http.Redirect(w, r, "/images/"+img.ID.String(), http.StatusSeeOther)
}

// regenerate asks the model for a new caption: the image is queued with a
// new job in one transaction, and the caption arrives over SSE as the
// first one did. The current caption stays in the history.
func (h *Handler) regenerate(w http.ResponseWriter, r *http.Request) {
	_, img, ok := h.captionFixer(w, r)
	if !ok {
		return
	}
	model := r.PostFormValue("model")
	if model != "" && !slices.Contains(h.Models, model) {
		msg := "Only the default model is installed here."
		if len(h.Models) > 0 {
			msg = "Choose one of the installed models: " + strings.Join(h.Models, ", ") + "."
		}
		h.fail(w, r, http.StatusUnprocessableEntity, "Unknown model", msg)
		return
	}
	tx, err := h.DB.Begin(r.Context())
	if err == nil {
		defer tx.Rollback(r.Context())
		if err = h.regenerateTx(r, tx, img, model); err == nil {
			err = tx.Commit(r.Context())
		}
	}
	switch {
	case errors.Is(err, db.ErrNotFound):
		h.fail(w, r, http.StatusConflict, "Already being captioned", "This photo is being captioned already; the new caption will appear by itself.")
		return
	case err != nil:
		h.serverError(w, r, err)
		return
	}
	h.flash(r, "Writing a new caption…")
	http.Redirect(w, r, "/images/"+img.ID.String(), http.StatusSeeOther)
}

// regenerateTx queues img for model ("" for the default).
func (h *Handler) regenerateTx(r *http.Request, tx pgx.Tx, img db.Image, model string) error {
	return h.requeueArgsTx(r.Context(), tx, jobs.CaptionArgs{ImageID: img.ID, Model: model}, vocab.Captioned, vocab.Failed)
}
