package handlers

import (
	"net/http"
	"strings"

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
	imgs, err := h.DB.PublicAfter(r.Context(), "", db.Cursor{}, galleryPageSize+1)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, views.PublicGallery(h.page(r, imgs, db.Cursor{}, "/", "")))
}

// maxQueryLen bounds a gallery search; longer input is cut, not refused.
const maxQueryLen = 200

// gallery reads the page of public images given by ?cursor=, only those
// whose captions match ?q= when it is given.
func (h *Handler) gallery(r *http.Request) (views.Gallery, error) {
	at := pageAt(r)
	q := searchQuery(r)
	imgs, err := h.DB.PublicAfter(r.Context(), q, at, galleryPageSize+1)
	if err != nil {
		return views.Gallery{}, err
	}
	return h.page(r, imgs, at, "/", q), nil
}

func searchQuery(r *http.Request) string {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > maxQueryLen {
		q = strings.ToValidUTF8(q[:maxQueryLen], "")
	}
	return q
}
