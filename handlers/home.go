package handlers

import (
	"net/http"
	"time"

	"captionai/views"
)

const galleryPageSize = 24

// home shows the upload form and the recent images, a page at a time.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	gallery, err := h.gallery(r)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, views.HomePage(h.uploadForm(), gallery))
}

// gallery reads the page given by ?before=, a timestamp cursor.
func (h *Handler) gallery(r *http.Request) (views.Gallery, error) {
	var before time.Time
	if v := r.URL.Query().Get("before"); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			before = t
		}
	}
	imgs, err := h.DB.Recent(r.Context(), before, galleryPageSize+1)
	if err != nil {
		return views.Gallery{}, err
	}
	g := views.Gallery{}
	if len(imgs) > galleryPageSize {
		imgs = imgs[:galleryPageSize]
		g.NextURL = "/?before=" + imgs[len(imgs)-1].CreatedAt.UTC().Format(time.RFC3339Nano) + "#recent"
	}
	if !before.IsZero() {
		g.FirstURL = "/#recent"
	}
	g.Images = toViews(imgs)
	return g, nil
}
