package handlers

import (
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/views"
)

// me lists the visitor's own uploads: an account's, or a guest session's.
func (h *Handler) me(w http.ResponseWriter, r *http.Request) {
	v := viewerFrom(r.Context())
	if !v.SignedIn() && v.GuestID == uuid.Nil {
		http.Redirect(w, r, "/login?next=/me", http.StatusSeeOther)
		return
	}
	before := pageCursor(r)
	imgs, err := h.DB.OwnedBy(r.Context(), v.Owner(), before, galleryPageSize+1)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	events := "/me/events"
	if !before.IsZero() {
		events += "?" + url.Values{"before": {r.URL.Query().Get("before")}}.Encode()
	}
	h.render(w, r, http.StatusOK, views.MePage(h.page(r, imgs, before, "/me", ""), !v.SignedIn(), events))
}

// meEvents streams the cards of the same page of the visitor's uploads
// (?before= as on /me) on one connection.
func (h *Handler) meEvents(w http.ResponseWriter, r *http.Request) {
	v := viewerFrom(r.Context())
	if !v.SignedIn() && v.GuestID == uuid.Nil {
		h.notFound(w, r)
		return
	}
	imgs, err := h.DB.OwnedBy(r.Context(), v.Owner(), pageCursor(r), galleryPageSize)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.streamCards(w, r, imgs)
}

// page turns one more row than a page into the page and its links; the
// links keep query, the gallery's caption search ("" for none).
func (h *Handler) page(r *http.Request, imgs []db.Image, before time.Time, path, query string) views.Gallery {
	v := viewerFrom(r.Context())
	g := views.Gallery{Query: query}
	link := func(cursor string) string {
		q := url.Values{}
		if cursor != "" {
			q.Set("before", cursor)
		}
		if g.Query != "" {
			q.Set("q", g.Query)
		}
		if len(q) == 0 {
			return path
		}
		return path + "?" + q.Encode()
	}
	if len(imgs) > galleryPageSize {
		imgs = imgs[:galleryPageSize]
		g.NextURL = link(imgs[len(imgs)-1].CreatedAt.UTC().Format(time.RFC3339Nano))
	}
	if !before.IsZero() {
		g.FirstURL = link("")
	}
	g.Images = toViews(imgs, v)
	return g
}

func pageCursor(r *http.Request) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("before"))
	return t
}
