package handlers

import (
	"net/http"
	"time"

	"captionai/db"
	"captionai/views"
)

// imageJSON is the JSON form of an image.
type imageJSON struct {
	ID          string     `json:"id"`
	Status      string     `json:"status"`
	Caption     *string    `json:"caption"`
	Model       *string    `json:"model"`
	Error       *string    `json:"error"`
	CreatedAt   time.Time  `json:"created_at"`
	CaptionedAt *time.Time `json:"captioned_at"`
}

func newImageJSON(img db.Image) imageJSON {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return imageJSON{
		ID: img.ID.String(), Status: img.Status, Caption: opt(img.Caption), Model: opt(img.Model),
		Error: opt(img.Error), CreatedAt: img.CreatedAt, CaptionedAt: img.CaptionedAt,
	}
}

// image shows one image: a page, or JSON for Accept: application/json.
func (h *Handler) image(w http.ResponseWriter, r *http.Request) {
	img, ok := h.loadImage(w, r)
	if !ok {
		return
	}
	w.Header().Set("Vary", "Accept")
	if wantsJSON(r) {
		h.writeJSON(w, http.StatusOK, newImageJSON(img))
		return
	}
	h.render(w, r, http.StatusOK, views.ImagePage(toView(img, viewerFrom(r.Context()))))
}
