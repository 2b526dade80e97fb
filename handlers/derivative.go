package handlers

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"captionai/db"
	"captionai/storage"
	"captionai/vocab"
)

// derivativeHash is how many hex digits of a derivative's SHA-256 its URL
// carries (128 bits): its storage key's, enough to name one set of bytes.
const derivativeHash = 32

// derivativeURL is where a display size of an image is served: named by
// its kind and its content's hash, so the URL of other bytes is another
// URL and the answer can be cached for ever.
func derivativeURL(img db.Image, d db.Derivative) string {
	return "/images/" + img.ID.String() + "/sizes/" + d.Kind + "-" + d.SHA256[:derivativeHash] + ".webp"
}

// publicCache says whether a shared cache may keep the image's files: it
// is public and not held or hidden.
func publicCache(img db.Image) bool {
	return img.Visibility == vocab.Public && img.Moderation == vocab.ModOK
}

// derivative serves one display size (imagefile.Derive) of an image the
// viewer sees, through the same CanSee check as the original. Its URL
// names its bytes, so a public image's sizes may be kept by any cache for
// a year without asking again; an unlisted, private, held or hidden one's
// only by the browser. ETag (the SHA-256), If-None-Match, Range and HEAD
// work through ServeContent. A URL whose hash is not the image's current
// one is 404.
func (h *Handler) derivative(w http.ResponseWriter, r *http.Request) {
	img, ok := h.loadImage(w, r)
	if !ok {
		return
	}
	name, found := strings.CutSuffix(r.PathValue("file"), ".webp")
	kind, hash, _ := strings.Cut(name, "-")
	var d *db.Derivative
	for i := range img.Derivatives {
		if c := &img.Derivatives[i]; found && c.Kind == kind && len(hash) == derivativeHash && c.SHA256[:derivativeHash] == hash {
			d = c
		}
	}
	if d == nil {
		h.notFound(w, r)
		return
	}
	f, err := h.Files.Open(r.Context(), d.StorageKey)
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
	hd.Set("Content-Type", d.ContentType)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("ETag", `"`+d.SHA256+`"`)
	if publicCache(img) {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// Who may see it can change: only the browser keeps it.
		hd.Set("Cache-Control", "private, max-age=31536000, immutable")
		hd.Set("Vary", "Cookie")
	}
	http.ServeContent(w, r, "", time.Time{}, f)
}
