package handlers

import (
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/views"
)

const maxTokenName = 100

// apiTokenJSON is a token as its owner lists it; the token itself is
// shown once, in the answer that made it.
type apiTokenJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// tokensPage lists the account's API tokens (JSON for Accept: application/json).
func (h *Handler) tokensPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.requireUser(w, r); !ok {
		return
	}
	h.renderTokens(w, r, http.StatusOK, views.TokensPage{})
}

// createToken makes a named token and shows it, this once.
func (h *Handler) createToken(w http.ResponseWriter, r *http.Request) {
	v, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	msg := ""
	switch {
	case name == "":
		msg = "Give the token a name, so that you know later what uses it."
	case utf8.RuneCountInString(name) > maxTokenName:
		msg = "Keep the name to 100 characters."
	}
	if msg != "" {
		if wantsJSON(r) {
			h.writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": msg})
			return
		}
		h.renderTokens(w, r, http.StatusUnprocessableEntity, views.TokensPage{Name: name, Error: msg})
		return
	}
	t, token, err := h.Users.CreateAPIToken(r.Context(), v.UserID, name)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.Log.Info("API token created", "user", v.UserID, "token", t.ID)
	if wantsJSON(r) {
		h.writeJSON(w, http.StatusCreated, map[string]string{"id": t.ID.String(), "name": t.Name, "token": token})
		return
	}
	// Rendered, not redirected: the token would otherwise have to wait in
	// the session, which is stored.
	w.Header().Set("Cache-Control", "no-store")
	h.renderTokens(w, r, http.StatusCreated, views.TokensPage{NewName: t.Name, NewToken: token})
}

// revokeToken revokes one of the account's tokens; another's is not found.
func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	v, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		h.notFound(w, r)
		return
	}
	err = h.Users.RevokeAPIToken(r.Context(), v.UserID, id)
	if errors.Is(err, db.ErrNotFound) {
		h.notFound(w, r)
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.Log.Info("API token revoked", "user", v.UserID, "token", id)
	if wantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.flash(r, "The token is revoked: programs using it are refused from now on.")
	http.Redirect(w, r, "/account/tokens", http.StatusSeeOther)
}

// renderTokens answers the page p with the account's tokens, or their JSON.
func (h *Handler) renderTokens(w http.ResponseWriter, r *http.Request, status int, p views.TokensPage) {
	toks, err := h.Users.APITokens(r.Context(), viewerFrom(r.Context()).UserID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	w.Header().Set("Vary", "Accept")
	if wantsJSON(r) {
		out := make([]apiTokenJSON, len(toks))
		for i, t := range toks {
			out[i] = apiTokenJSON{ID: t.ID.String(), Name: t.Name, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
		}
		h.writeJSON(w, status, map[string]any{"tokens": out})
		return
	}
	for _, t := range toks {
		p.Tokens = append(p.Tokens, views.APIToken{ID: t.ID.String(), Name: t.Name, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt})
	}
	h.render(w, r, status, views.APITokensPage(p))
}
