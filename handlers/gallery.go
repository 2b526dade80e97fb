package handlers

import (
	"net/http"

	"captionai/db"
	"captionai/views"
	"captionai/vocab"
)

// galleryPage is the public gallery, a grid of photos a page at a time
// (?cursor=), only those whose captions match ?q= when it is given.
func (h *Handler) galleryPage(w http.ResponseWriter, r *http.Request) {
	at := pageAt(r)
	q := searchQuery(r)
	imgs, err := h.DB.PublicAfter(r.Context(), q, at, galleryPageSize+1)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, views.GalleryPage(h.page(r, imgs, at, "/gallery", q)))
}

// uploaderName is how a photo's uploader is shown: the account's display
// name, vocab.MemberUploader for an account without one, and
// vocab.GuestUploader for a guest. Never an email address.
func uploaderName(img db.Image) string {
	switch {
	case img.UserID == nil:
		return vocab.GuestUploader
	case img.UploaderName != "":
		return img.UploaderName
	}
	return vocab.MemberUploader
}
