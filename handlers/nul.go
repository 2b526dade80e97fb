package handlers

import (
	"net/http"
	"strings"
)

// maxFormBytes bounds url-encoded form bodies (sign-in, visibility, ...).
const maxFormBytes = 64 << 10

// refuseNUL answers 400 for a query string or url-encoded form holding a
// NUL character: no field takes one, and Postgres cannot store one in text.
// Multipart uploads are checked by upload itself, part by part.
func (h *Handler) refuseNUL(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bad := hasNUL(r.URL.Query())
		if !bad && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				h.fail(w, r, http.StatusBadRequest, "Bad request", "The form could not be read (it may be too long). Nothing was changed.")
				return
			}
			bad = hasNUL(r.PostForm)
		}
		if bad {
			h.fail(w, r, http.StatusBadRequest, "Bad request",
				"The request contains a NUL character (%00), which no field accepts. Nothing was changed.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func hasNUL(vals map[string][]string) bool {
	for k, vs := range vals {
		if strings.ContainsRune(k, 0) {
			return true
		}
		for _, v := range vs {
			if strings.ContainsRune(v, 0) {
				return true
			}
		}
	}
	return false
}
