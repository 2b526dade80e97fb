package handlers

import (
	"net/http"
	"net/url"
	"strconv"
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
	at := pageAt(r)
	imgs, err := h.DB.OwnedByAfter(r.Context(), v.Owner(), at, galleryPageSize+1)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	events := "/me/events"
	if r.URL.RawQuery != "" {
		events += "?" + r.URL.RawQuery // the same page
	}
	h.render(w, r, http.StatusOK, views.MePage(h.page(r, imgs, at, "/me", ""), !v.SignedIn(), events))
}

// meEvents streams the cards of the same page of the visitor's uploads
// (?before= as on /me) on one connection.
func (h *Handler) meEvents(w http.ResponseWriter, r *http.Request) {
	v := viewerFrom(r.Context())
	if !v.SignedIn() && v.GuestID == uuid.Nil {
		h.notFound(w, r)
		return
	}
	imgs, err := h.DB.OwnedByAfter(r.Context(), v.Owner(), pageAt(r), galleryPageSize)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.streamCards(w, r, imgs)
}

// page turns one more row than a page into the page and its links; the
// links keep query, the gallery's caption search ("" for none).
func (h *Handler) page(r *http.Request, imgs []db.Image, at db.Cursor, path, query string) views.Gallery {
	v := viewerFrom(r.Context())
	g := views.Gallery{Query: query, Page: pageNumber(r, at)}
	link := func(cursor string) string {
		q := url.Values{}
		if cursor != "" {
			q.Set("cursor", cursor)
			if g.Page > 0 {
				q.Set("page", strconv.Itoa(g.Page+1))
			}
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
		last := imgs[len(imgs)-1]
		g.NextURL = link(encodeCursor(db.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}))
	}
	if !at.CreatedAt.IsZero() {
		g.FirstURL = link("")
	}
	g.Images = toViews(imgs, v)
	return g
}

// pageNumber is the page's number for people (its title says "page 2"):
// 1 on the first page, else ?page=, which the Older links count up; 0 for
// a later page of no known number (a ?before= link, say).
func pageNumber(r *http.Request, at db.Cursor) int {
	if at.CreatedAt.IsZero() {
		return 1
	}
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 2 {
		return 0
	}
	return min(n, 1_000_000)
}

// pageAt is where a page of images starts: ?cursor= (created_at and id, so
// that images of one upload, which share their time, are neither skipped
// nor repeated), or an older ?before= time; zero for the first page.
func pageAt(r *http.Request) db.Cursor {
	q := r.URL.Query()
	if c, err := decodeCursor(q.Get("cursor")); err == nil {
		return c
	}
	t, _ := time.Parse(time.RFC3339Nano, q.Get("before"))
	return db.Cursor{CreatedAt: t}
}
