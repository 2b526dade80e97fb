package handlers

import (
	"net/http"

	"github.com/google/uuid"

	"captionai/views"
)

// batch lists the images of one upload.
func (h *Handler) batch(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		h.notFound(w, r)
		return
	}
	imgs, err := h.DB.Batch(r.Context(), id)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	viewer := viewerFrom(r.Context())
	imgs = visible(imgs, viewer)
	if len(imgs) == 0 {
		h.notFound(w, r)
		return
	}
	h.render(w, r, http.StatusOK, views.BatchPage(id.String(), toViews(imgs, viewer)))
}
