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

const auditPageSize = 50

// auditLog shows staff every moderation and role action, newest first,
// filtered by staff member and by target.
func (h *Handler) auditLog(w http.ResponseWriter, r *http.Request) {
	v, ok := h.requireStaff(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := db.AuditFilter{Actor: q.Get("actor"), Target: q.Get("target")}
	entries, err := h.DB.AuditLog(r.Context(), f, auditCursor(r), auditPageSize+1)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	next := ""
	if len(entries) > auditPageSize {
		entries = entries[:auditPageSize]
		last := entries[len(entries)-1]
		vals := url.Values{"before": {last.At.UTC().Format(time.RFC3339Nano)}, "id": {strconv.FormatInt(last.ID, 10)}}
		if f.Actor != "" {
			vals.Set("actor", f.Actor)
		}
		if f.Target != "" {
			vals.Set("target", f.Target)
		}
		next = "/admin/audit?" + vals.Encode()
	}
	rows := make([]views.AuditRow, len(entries))
	for i, a := range entries {
		row := views.AuditRow{At: a.At, Actor: a.ActorEmail, Action: a.Action, Reason: a.Reason}
		switch {
		case a.TargetImage != uuid.Nil:
			row.Target, row.ImageURL = "photo "+a.TargetImage.String()[:8], "/images/"+a.TargetImage.String()
		case a.TargetEmail != "":
			row.Target = a.TargetEmail
		case a.TargetUser != uuid.Nil:
			row.Target = "account " + a.TargetUser.String()[:8]
		}
		rows[i] = row
	}
	h.render(w, r, http.StatusOK, views.AuditPage(rows, f.Actor, f.Target, next, v.IsAdmin()))
}

// auditCursor is where a page of the audit log starts: ?before= (a time)
// and ?id= (the last action shown, which breaks ties of time); zero for
// the first page.
func auditCursor(r *http.Request) db.AuditCursor {
	q := r.URL.Query()
	at, _ := time.Parse(time.RFC3339Nano, q.Get("before"))
	id, _ := strconv.ParseInt(q.Get("id"), 10, 64)
	return db.AuditCursor{At: at, ID: max(id, 0)}
}
