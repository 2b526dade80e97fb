package handlers

import (
	"net/http"
	"net/url"
	"strconv"

	"captionai/db"
	"captionai/views"
	"captionai/vocab"
)

// admin lists every image for staff, with filters and pages. Moderators
// do not see private images, which only their owners and admins may.
func (h *Handler) admin(w http.ResponseWriter, r *http.Request) {
	v, ok := h.requireStaff(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := db.AdminFilter{Status: q.Get("status"), Visibility: q.Get("visibility"), Moderation: q.Get("moderation"),
		Reported: q.Get("reported") != "", NoPrivate: !v.IsAdmin()}
	at := pageAt(r)
	imgs, err := h.DB.AdminImages(r.Context(), f, at, galleryPageSize+1)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	link := func(cursor string) string {
		vals := url.Values{}
		for _, k := range []string{"status", "visibility", "moderation", "reported"} {
			if q.Get(k) != "" {
				vals.Set(k, q.Get(k))
			}
		}
		if cursor != "" {
			vals.Set("cursor", cursor)
		}
		if len(vals) == 0 {
			return "/admin"
		}
		return "/admin?" + vals.Encode()
	}
	var next, first string
	if len(imgs) > galleryPageSize {
		imgs = imgs[:galleryPageSize]
		last := imgs[len(imgs)-1]
		next = link(encodeCursor(db.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}))
	}
	if !at.CreatedAt.IsZero() {
		first = link("")
	}
	out := make([]views.AdminImage, 0, len(imgs))
	for _, img := range imgs {
		if !v.CanSee(img.Image) {
			continue
		}
		out = append(out, views.AdminImage{Image: toView(img.Image, v), Uploader: uploader(img.OwnerEmail), OpenReports: img.OpenReports})
	}
	h.render(w, r, http.StatusOK, views.AdminImagesPage(out,
		views.AdminFilter{Status: f.Status, Visibility: f.Visibility, Moderation: f.Moderation, Reported: f.Reported}, next, first, v.IsAdmin()))
}

// uploader names an image's owner for staff: the account's address, or
// "guest".
func uploader(email string) string {
	if email == "" {
		return "guest"
	}
	return email
}

// reviewQueue shows staff the reported and held images.
func (h *Handler) reviewQueue(w http.ResponseWriter, r *http.Request) {
	v, ok := h.requireStaff(w, r)
	if !ok {
		return
	}
	items, err := h.DB.ReviewQueue(r.Context(), !v.IsAdmin(), 100)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	out := make([]views.Flagged, 0, len(items))
	for _, f := range items {
		if !v.CanSee(f.Image) {
			continue
		}
		uid := ""
		if f.Image.UserID != nil {
			uid = f.Image.UserID.String()
		}
		out = append(out, views.Flagged{Image: toView(f.Image, v), Uploader: uploader(f.OwnerEmail), UploaderID: uid,
			Reasons: f.Reasons, Notes: f.Notes, Since: f.FirstAt, NSFW: f.Image.NSFWScores})
	}
	h.render(w, r, http.StatusOK, views.ReviewQueuePage(out, v.IsAdmin()))
}

// bulkModerate hides or deletes the chosen images of the admin list.
func (h *Handler) bulkModerate(w http.ResponseWriter, r *http.Request) {
	v, ok := h.requireStaff(w, r)
	if !ok {
		return
	}
	r.ParseForm()
	action, reason, ids := r.PostForm.Get("action"), r.PostForm.Get("reason"), r.PostForm["id"]
	switch {
	case action != vocab.ActHide && action != vocab.ActDelete:
		h.fail(w, r, http.StatusUnprocessableEntity, "Unknown action", "Choose to hide or to delete the chosen photos.")
		return
	case len(ids) == 0:
		h.fail(w, r, http.StatusUnprocessableEntity, "Nothing chosen", "Tick the photos to act on first. Nothing was changed.")
		return
	case action == vocab.ActHide && reason == "":
		h.fail(w, r, http.StatusUnprocessableEntity, "Reason needed", "Say why the photos are hidden: their uploaders see it. Nothing was changed.")
		return
	}
	n, err := h.bulk(r, v, action, reason, ids)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.flash(r, strconv.Itoa(n)+" photos "+map[string]string{vocab.ActHide: "hidden", vocab.ActDelete: "deleted"}[action]+".")
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}
