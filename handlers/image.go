package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/views"
	"captionai/vocab"
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
	// CaptionSource is who wrote the current caption (model, owner,
	// staff; null while there is no caption); Edited is true when a person did.
	CaptionSource *string `json:"caption_source"`
	Edited        bool    `json:"edited"`
	// Confidence is the model's calibrated chance in [0, 1] that the
	// current caption names the photo's subject right, and Certainty
	// that chance in words (sure, probable: shown as "Probably: ...",
	// unsure: the caption is a safe description); both null for a
	// person's caption and for models that measure none.
	Confidence *float64     `json:"confidence"`
	Certainty  *string      `json:"certainty"`
	Ratings    *ratingsJSON `json:"ratings,omitempty"`
}

type ratingsJSON struct {
	Good int `json:"good"`
	Bad  int `json:"bad"`
}

func newImageJSON(img db.Image) imageJSON {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	src := img.CaptionSrc
	if img.Caption == "" {
		src = "" // the column defaults to "model", also before any caption
	}
	return imageJSON{
		ID: img.ID.String(), Status: img.Status, Caption: opt(img.Caption), Model: opt(img.Model),
		Error: opt(img.Error), CreatedAt: img.CreatedAt, CaptionedAt: img.CaptionedAt,
		CaptionSource: opt(src), Edited: vocab.ByPerson(src),
		Confidence: img.Confidence, Certainty: opt(img.Certainty),
	}
}

// image shows one image: a page, or JSON for Accept: application/json.
func (h *Handler) image(w http.ResponseWriter, r *http.Request) {
	img, ok := h.loadImage(w, r)
	if !ok {
		return
	}
	w.Header().Set("Vary", "Accept")
	v := viewerFrom(r.Context())
	// Only the signed-in vote, and only owners and staff see the counts:
	// anonymous views (most of them) skip the query.
	var ratings db.Ratings
	if v.SignedIn() {
		var err error
		if ratings, err = h.DB.CaptionRatings(r.Context(), img.ID, v.UserID); err != nil {
			h.serverError(w, r, err)
			return
		}
	}
	if wantsJSON(r) {
		out := newImageJSON(img)
		if v.Owns(img) || v.IsStaff() {
			out.Ratings = &ratingsJSON{Good: ratings.Good, Bad: ratings.Bad}
		}
		h.writeJSON(w, http.StatusOK, out)
		return
	}
	view := toView(img, v)
	view.Ratings = views.Ratings{Good: ratings.Good, Bad: ratings.Bad, Mine: ratings.Mine}
	view.Models = h.Models
	if err := h.placeInGallery(r.Context(), img, &view); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, views.ImagePage(view))
}

// placeInGallery finds, for a photo of the public gallery, the photos
// before and after it there.
func (h *Handler) placeInGallery(ctx context.Context, img db.Image, view *views.Image) error {
	if img.Visibility != vocab.Public || img.Status != vocab.Captioned || img.Moderation != vocab.ModOK {
		return nil
	}
	newer, older, err := h.DB.PublicNeighbours(ctx, db.Cursor{CreatedAt: img.CreatedAt, ID: img.ID})
	if err != nil {
		return err
	}
	if newer != uuid.Nil {
		view.NewerID = newer.String()
	}
	if older != uuid.Nil {
		view.OlderID = older.String()
	}
	return nil
}
