package handlers

import (
	"errors"
	"mime"
	"net/http"
	"strconv"

	"captionai/storage"
)

// file serves the stored bytes (metadata stripped at upload) with the type
// sniffed then. Range, If-None-Match and HEAD work through ServeContent;
// ?download=1 asks the browser to save it under its original name.
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
	hd := w.Header()
	hd.Set("Content-Type", img.ContentType)
	hd.Set("X-Content-Type-Options", "nosniff")
	// The bytes under an image id never change, but who may see them can:
	// only the browser keeps them, never a shared cache.
	hd.Set("Cache-Control", "private, max-age=86400")
	hd.Set("ETag", `"`+img.ID.String()+"-"+strconv.FormatInt(img.SizeBytes, 10)+`"`)
	hd.Set("Vary", "Cookie")
	if r.URL.Query().Get("download") != "" {
		hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": img.OriginalName}))
	}
	http.ServeContent(w, r, "", img.CreatedAt, f)
}
