package handlers

import (
	"context"
	"net/http"

	"github.com/google/uuid"

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
	g := h.page(r, imgs, at, "/gallery", q)
	if err := h.nameUploaders(r.Context(), imgs[:len(g.Images)], g.Images); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, views.GalleryPage(g))
}

// nameUploaders sets out[i].Uploader for imgs[i]: the account's display
// name, vocab.MemberUploader for an account without one, and
// vocab.GuestUploader for a guest. Never an email address.
func (h *Handler) nameUploaders(ctx context.Context, imgs []db.Image, out []views.Image) error {
	var ids []uuid.UUID
	for _, img := range imgs {
		if img.UserID != nil {
			ids = append(ids, *img.UserID)
		}
	}
	names, err := h.DB.DisplayNames(ctx, ids)
	if err != nil {
		return err
	}
	for i, img := range imgs {
		out[i].Uploader = uploaderName(img, names)
	}
	return nil
}

func uploaderName(img db.Image, names map[uuid.UUID]string) string {
	if img.UserID == nil {
		return vocab.GuestUploader
	}
	if n := names[*img.UserID]; n != "" {
		return n
	}
	return vocab.MemberUploader
}
