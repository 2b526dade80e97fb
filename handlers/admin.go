package handlers

import (
	"net/http"

	"captionai/views"
)

// admin lists every image, whatever its visibility, for moderation. To
// anyone but an admin the page does not exist.
func (h *Handler) admin(w http.ResponseWriter, r *http.Request) {
	if !viewerFrom(r.Context()).IsAdmin() {
		h.notFound(w, r)
		return
	}
	before := pageCursor(r)
	imgs, err := h.DB.All(r.Context(), before, galleryPageSize+1)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, views.AdminPage(h.page(r, imgs, before, "/admin", "")))
}
