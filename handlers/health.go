package handlers

import (
	"context"
	"net/http"
	"time"
)

// healthz says the process is alive.
func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	h.writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether the process can do its work: database reachable and,
// where this process captions, the model loaded.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok"}
	status := http.StatusOK
	// The reasons go to the log: they name hosts, users and paths.
	if err := h.DB.Ping(ctx); err != nil {
		h.Log.Error("not ready: database", "err", err)
		checks["database"] = "unavailable"
		status = http.StatusServiceUnavailable
	}
	if h.Ready != nil {
		checks["model"] = "ok"
		if err := h.Ready(); err != nil {
			h.Log.Error("not ready: model", "err", err)
			checks["model"] = "unavailable"
			status = http.StatusServiceUnavailable
		}
	}
	h.writeJSON(w, status, checks)
}
