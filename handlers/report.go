package handlers

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"captionai/db"
	"captionai/views"
	"captionai/vocab"
)

// reportsPerIP bounds how many reports one address may file.
var reportsPerIP = db.Limit{Action: "report", Max: 20, Window: time.Hour}

// report lets anyone who sees an image report it, anonymous visitors too
// (as a guest identity, so that each has one open report per image).
func (h *Handler) report(w http.ResponseWriter, r *http.Request) {
	img, ok := h.loadImage(w, r)
	if !ok {
		return
	}
	reason, note := r.PostFormValue("reason"), strings.TrimSpace(r.PostFormValue("note"))
	answer := func(status int, message string, done bool) {
		switch {
		case isHTMX(r):
			h.render(w, r, status, views.ReportForm(img.ID.String(), message, done))
			return
		case message != "":
			h.fail(w, r, status, "Report not sent", message)
			return
		}
		h.flash(r, "Thank you. A moderator will look at this photo.")
		http.Redirect(w, r, "/images/"+img.ID.String(), http.StatusSeeOther)
	}
	switch {
	case !vocab.ValidReportReason(reason):
		answer(http.StatusUnprocessableEntity, "Choose what is wrong with the photo.", false)
		return
	case utf8.RuneCountInString(note) > 1000:
		answer(http.StatusUnprocessableEntity, "The note is too long: at most 1000 characters.", false)
		return
	}
	if h.limited(w, r, reportsPerIP, clientIP(r).String(), 1) {
		return
	}
	v := viewerFrom(r.Context())
	rep := db.Report{ImageID: img.ID, ReporterUser: v.UserID, ReporterIP: clientIP(r), Reason: reason, Note: note}
	if !v.SignedIn() {
		g, err := h.guestID(r)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		rep.ReporterGuest = g
	}
	created, err := h.DB.CreateReport(r.Context(), rep)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if created {
		h.Log.Info("image reported", "image", img.ID, "reason", reason)
	}
	// A second report of the same image while the first is open changes
	// nothing, and says the same.
	answer(http.StatusOK, "", true)
}
