package handlers

import (
	"net/http"
	"strings"
	"time"

	"captionai/db"
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

// galleryFragment is the gallery's first page alone, for the home page to
// refresh itself with after an upload and as captions arrive.
func (h *Handler) galleryFragment(w http.ResponseWriter, r *http.Request) {
	imgs, err := h.DB.Recent(r.Context(), time.Time{}, galleryPageSize+1)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, views.PublicGallery(h.page(r, imgs, time.Time{}, "/", "")))
}

// maxQueryLen bounds a gallery search; longer input is cut, not refused.
const maxQueryLen = 200

// gallery reads the page of public images given by ?before=, only those
// whose captions match ?q= when it is given.
func (h *Handler) gallery(r *http.Request) (views.Gallery, error) {
	before := pageCursor(r)
	q := searchQuery(r)
	var imgs []db.Image
	var err error
	if q == "" {
		imgs, err = h.DB.Recent(r.Context(), before, galleryPageSize+1)
	} else {
		imgs, err = h.DB.SearchPublic(r.Context(), q, before, galleryPageSize+1)
	}
	if err != nil {
		return views.Gallery{}, err
	}
	return h.page(r, imgs, before, "/", q), nil
}

func searchQuery(r *http.Request) string {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > maxQueryLen {
		q = strings.ToValidUTF8(q[:maxQueryLen], "")
	}
	return q
}
