package handlers

import (
	"errors"
	"net/http"

	"captionai/storage"
)

// file serves the original bytes with the type sniffed at upload.
func (h *Handler) file(w http.ResponseWriter, r *http.Request) {
	img, ok := h.loadImage(w, r)
	if !ok {
		return
	}
	f, err := h.Files.Open(r.Context(), img.StorageKey)
	if errors.Is(err, storage.ErrNotFound) {
		h.notFound(w, r)
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", img.ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "private, max-age=86400, immutable")
	http.ServeContent(w, r, "", img.CreatedAt, f)
}
