package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/google/uuid"

	"captionai/db"
	"captionai/imagefile"
	"captionai/views"
	"captionai/vocab"
)

func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// wantsJSON is true for ?format=json or an Accept header that prefers JSON.
func wantsJSON(r *http.Request) bool {
	if r.URL.Query().Get("format") == "json" {
		return true
	}
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		h.Log.Error("rendering", "path", r.URL.Path, "err", err)
	}
}

func (h *Handler) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		h.Log.Error("writing json", "err", err)
	}
}

// fail answers with an error page, fragment or JSON, as the client prefers.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	switch {
	case wantsJSON(r):
		h.writeJSON(w, status, map[string]string{"error": message})
	case isHTMX(r):
		h.render(w, r, status, views.ErrorAlert(message, nil))
	default:
		h.render(w, r, status, views.ErrorPage(status, title, message))
	}
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, http.StatusNotFound, "Not found", "There is nothing at this address. The link may be mistyped, or the image was removed.")
}

func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, err error) {
	h.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	h.fail(w, r, http.StatusInternalServerError, "Something went wrong",
		"The server could not finish this request. Nothing you sent was lost; please try again in a moment.")
}

// loadImage parses the {id} and loads the image if the viewer may see it,
// answering 404 itself otherwise: a hidden image does not exist to them.
func (h *Handler) loadImage(w http.ResponseWriter, r *http.Request) (db.Image, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		h.notFound(w, r)
		return db.Image{}, false
	}
	img, err := h.DB.Image(r.Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		h.notFound(w, r)
		return db.Image{}, false
	}
	if err != nil {
		h.serverError(w, r, err)
		return db.Image{}, false
	}
	if !viewerFrom(r.Context()).CanSee(img) {
		h.notFound(w, r)
		return db.Image{}, false
	}
	return img, true
}

func toView(img db.Image, v Viewer) views.Image {
	out := views.Image{
		Visibility: img.Visibility, CanEdit: v.CanEdit(img), CanRetry: v.IsStaff() && img.Status == vocab.Failed,
		Moderation: img.Moderation, ModReason: img.ModReason, Owned: v.Owns(img), Staff: v.IsStaff(),
		CaptionSrc: img.CaptionSrc, CanRate: v.SignedIn(),
		ID: img.ID.String(), Name: img.OriginalName, Status: img.Status,
		Caption: img.Caption, Model: img.Model, Error: img.Error,
		Width: img.Width, Height: img.Height, SizeBytes: img.SizeBytes,
		EncodeMS: img.EncodeMS, DecodeMS: img.DecodeMS, TotalMS: img.TotalMS,
		CreatedAt: img.CreatedAt, CaptionedAt: img.CaptionedAt,
		Confidence: img.Confidence, Certainty: img.Certainty, Uploader: uploaderName(img),
	}
	out.SizesPending = sizesPending(img, time.Now())
	for _, d := range img.Derivatives {
		r := views.Rendition{URL: derivativeURL(img, d), Width: d.Width, Height: d.Height}
		switch d.Kind {
		case imagefile.Card:
			out.Card = r
		case imagefile.View:
			out.View = r
		}
	}
	return out
}

// sizesWait is how long after an upload pages wait for its display sizes
// before they show a large original after all (its sizes could not be
// made).
const sizesWait = 10 * time.Minute

// sizesPending says that img is larger than its largest display size and
// has no sizes yet, but may still get them: pages show a placeholder of
// its shape rather than make a phone fetch and decode a 12 MP original,
// and event streams stay open until the sizes arrive.
func sizesPending(img db.Image, now time.Time) bool {
	if len(img.Derivatives) > 0 || max(img.Width, img.Height) <= imagefile.DerivativeKinds[len(imagefile.DerivativeKinds)-1].MaxSide {
		return false
	}
	return img.Status != vocab.Failed && now.Sub(img.CreatedAt) < sizesWait
}

func toViews(imgs []db.Image, v Viewer) []views.Image {
	out := make([]views.Image, len(imgs))
	for i, img := range imgs {
		out[i] = toView(img, v)
	}
	return out
}

// visible keeps the images the viewer may see.
func visible(imgs []db.Image, v Viewer) []db.Image {
	out := imgs[:0:0]
	for _, img := range imgs {
		if v.CanSee(img) {
			out = append(out, img)
		}
	}
	return out
}
