package handlers

import (
	"context"
	"net/http"
	"strings"

	"captionai/db"
	"captionai/views"
)

const (
	galleryPageSize = 24
	// latestPhotos is how many public photos the home page shows.
	latestPhotos = 8
)

// home leads with the upload form, then the latest public photos. The
// gallery's search and pages moved to /gallery, where old links go.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	if q := r.URL.Query(); q.Has("q") || q.Has("cursor") || q.Has("before") {
		http.Redirect(w, r, "/gallery?"+r.URL.RawQuery, http.StatusMovedPermanently)
		return
	}
	latest, err := h.latest(r.Context(), r)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, views.HomePage(h.uploadForm(r), latest))
}

// galleryFragment is the home page's latest photos alone, for it to
// refresh itself with after an upload and as captions arrive.
func (h *Handler) galleryFragment(w http.ResponseWriter, r *http.Request) {
	latest, err := h.latest(r.Context(), r)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, views.LatestPhotos(latest))
}

// latest are the newest public photos.
func (h *Handler) latest(ctx context.Context, r *http.Request) ([]views.Image, error) {
	imgs, err := h.DB.PublicAfter(ctx, "", db.Cursor{}, latestPhotos)
	if err != nil {
		return nil, err
	}
	return toViews(imgs, viewerFrom(r.Context())), nil
}

// maxQueryLen bounds a gallery search; longer input is cut, not refused.
const maxQueryLen = 200

func searchQuery(r *http.Request) string {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > maxQueryLen {
		q = strings.ToValidUTF8(q[:maxQueryLen], "")
	}
	return q
}
