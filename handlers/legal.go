package handlers

import (
	"net/http"

	"captionai/views"
)

// withSite tells every page who runs the server and where photos go (the
// footer says it).
func (h *Handler) withSite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(views.WithSite(r.Context(), h.Site)))
	})
}

// terms shows the terms of use, naming the operator (OPERATOR_NAME,
// OPERATOR_CONTACT).
func (h *Handler) terms(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, views.TermsPage(h.Site))
}

// privacy says what the server stores, for how long, and whether photos
// leave it.
func (h *Handler) privacy(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, views.PrivacyPage(h.Site))
}
