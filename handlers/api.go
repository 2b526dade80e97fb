package handlers

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"captionai/db"
)

// The JSON API under /api/: what a program with a token (or a browser
// with a session) reads. Uploads and visibility go through the pages'
// own routes, which answer JSON too.

const (
	apiPageSize    = 50
	apiMaxPageSize = 100
)

// apiImage is an image in the API: its JSON form, who may see it and
// where its file is.
type apiImage struct {
	imageJSON
	Visibility string `json:"visibility"`
	File       string `json:"file"`
}

func newAPIImage(img db.Image) apiImage {
	return apiImage{imageJSON: newImageJSON(img), Visibility: img.Visibility, File: "/images/" + img.ID.String() + "/file"}
}

// apiPage is one page of a list; Next, when not null, is the cursor of
// the following page.
type apiPage struct {
	Images []apiImage `json:"images"`
	Next   *string    `json:"next"`
}

// apiAnswersJSON makes every answer under /api/, errors included, JSON.
func apiAnswersJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			r.Header.Set("Accept", "application/json")
		}
		next.ServeHTTP(w, r)
	})
}

// apiMyImages lists the viewer's own images, newest first.
func (h *Handler) apiMyImages(w http.ResponseWriter, r *http.Request) {
	v := viewerFrom(r.Context())
	if !v.SignedIn() && v.GuestID == uuid.Nil {
		w.Header().Set("WWW-Authenticate", "Bearer")
		h.writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Send an API token (Authorization: Bearer) or sign in."})
		return
	}
	after, limit, ok := h.apiPaging(w, r)
	if !ok {
		return
	}
	imgs, err := h.DB.OwnedByAfter(r.Context(), v.Owner(), after, limit+1)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.writeJSON(w, http.StatusOK, newAPIPage(imgs, limit))
}

// apiGallery lists public images, those whose captions match ?q= when given.
func (h *Handler) apiGallery(w http.ResponseWriter, r *http.Request) {
	after, limit, ok := h.apiPaging(w, r)
	if !ok {
		return
	}
	imgs, err := h.DB.PublicAfter(r.Context(), searchQuery(r), after, limit+1)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.writeJSON(w, http.StatusOK, newAPIPage(imgs, limit))
}

// apiImage is one image, if the viewer sees it.
func (h *Handler) apiImage(w http.ResponseWriter, r *http.Request) {
	img, ok := h.loadImage(w, r)
	if !ok {
		return
	}
	h.writeJSON(w, http.StatusOK, newAPIImage(img))
}

// newAPIPage turns up to limit+1 rows into a page and the next cursor.
func newAPIPage(imgs []db.Image, limit int) apiPage {
	p := apiPage{Images: []apiImage{}}
	if len(imgs) > limit {
		imgs = imgs[:limit]
		last := imgs[len(imgs)-1]
		next := encodeCursor(db.Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
		p.Next = &next
	}
	for _, img := range imgs {
		p.Images = append(p.Images, newAPIImage(img))
	}
	return p
}

// apiPaging reads ?cursor= (a page's next) or ?before= (a creation time,
// RFC 3339), and ?limit=, answering 400 itself for bad ones.
func (h *Handler) apiPaging(w http.ResponseWriter, r *http.Request) (db.Cursor, int, bool) {
	q := r.URL.Query()
	limit := apiPageSize
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > apiMaxPageSize {
			h.fail(w, r, http.StatusBadRequest, "Bad request", "limit must be a whole number from 1 to 100.")
			return db.Cursor{}, 0, false
		}
		limit = n
	}
	var c db.Cursor
	var err error
	switch {
	case q.Get("cursor") != "":
		c, err = decodeCursor(q.Get("cursor"))
	case q.Get("before") != "":
		c.CreatedAt, err = time.Parse(time.RFC3339Nano, q.Get("before"))
	}
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "Bad request", "cursor must be a page's next, and before a time such as 2006-01-02T15:04:05.999999Z.")
		return db.Cursor{}, 0, false
	}
	return c, limit, true
}

// A cursor is opaque to clients: the last image's creation time and id.
func encodeCursor(c db.Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.CreatedAt.UTC().Format(time.RFC3339Nano) + " " + c.ID.String()))
}

func decodeCursor(s string) (db.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return db.Cursor{}, err
	}
	at, id, ok := strings.Cut(string(b), " ")
	if !ok {
		return db.Cursor{}, errors.New("bad cursor")
	}
	var c db.Cursor
	if c.CreatedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return db.Cursor{}, err
	}
	if c.ID, err = uuid.Parse(id); err != nil {
		return db.Cursor{}, err
	}
	return c, nil
}
