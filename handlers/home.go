package handlers

import (
	"net/http"

	"captionai/views"
)

const galleryPageSize = 24

// home shows the upload form and the public gallery, a page at a time.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	gallery, err := h.gallery(r)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, views.HomePage(h.uploadForm(r), gallery))
}

// gallery reads the page of public images given by ?before=.
func (h *Handler) gallery(r *http.Request) (views.Gallery, error) {
	before := pageCursor(r)
	imgs, err := h.DB.Recent(r.Context(), before, galleryPageSize+1)
	if err != nil {
		return views.Gallery{}, err
	}
	return h.page(r, imgs, before, "/"), nil
}
