package handlers

import (
	"net/http"
	"strings"
	"unicode/utf8"
)

// maxFormBytes bounds url-encoded form bodies (sign-in, visibility, ...).
const maxFormBytes = 64 << 10

// refuseBadText answers 400 for a query string or url-encoded form holding
// a NUL character or bytes that are not UTF-8: no field takes them, and
// Postgres cannot store them in text. Multipart uploads are checked by
// upload itself, part by part.
func (h *Handler) refuseBadText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := badText(r.URL.Query())
		if msg == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				h.fail(w, r, http.StatusBadRequest, "Bad request", "The form could not be read (it may be too long). Nothing was changed.")
				return
			}
			msg = badText(r.PostForm)
		}
		if msg != "" {
			h.fail(w, r, http.StatusBadRequest, "Bad request", msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// badText says what is wrong with the text of a form or query, if anything.
func badText(vals map[string][]string) string {
	for k, vs := range vals {
		for _, v := range append(vs, k) {
			switch {
			case strings.ContainsRune(v, 0):
				return "The request contains a NUL character (%00), which no field accepts. Nothing was changed."
			case !utf8.ValidString(v):
				return "The request contains bytes that are not UTF-8 text. Nothing was changed."
			}
		}
	}
	return ""
}
