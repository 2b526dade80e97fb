package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/google/uuid"

	"captionai/db"
	"captionai/views"
)

// sseEvent is one named server-sent event carrying HTML.
type sseEvent struct {
	name string
	html templ.Component
}

// imageEvents streams an image's changes: "status" (the badge) and
// "caption" (the caption block), then "done" once it is finished.
func (h *Handler) imageEvents(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		h.notFound(w, r)
		return
	}
	viewer := viewerFrom(r.Context())
	h.stream(w, r, []uuid.UUID{id}, func(img db.Image) []sseEvent {
		v := toView(img, viewer)
		return []sseEvent{{"status", views.StatusBadge(v)}, {"caption", views.ImageUpdate(v)}}
	})
}

// batchEvents streams the cards of one upload on one connection, so a page
// of many images does not open a connection per image.
func (h *Handler) batchEvents(w http.ResponseWriter, r *http.Request) {
	batchID, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		h.notFound(w, r)
		return
	}
	imgs, err := h.DB.Batch(r.Context(), batchID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.streamCards(w, r, imgs)
}

// streamCards streams the cards of the visible images among imgs.
func (h *Handler) streamCards(w http.ResponseWriter, r *http.Request, imgs []db.Image) {
	viewer := viewerFrom(r.Context())
	imgs = visible(imgs, viewer)
	if len(imgs) == 0 {
		h.notFound(w, r)
		return
	}
	ids := make([]uuid.UUID, len(imgs))
	for i, img := range imgs {
		ids[i] = img.ID
	}
	h.stream(w, r, ids, func(img db.Image) []sseEvent {
		v := toView(img, viewer)
		return []sseEvent{{v.SSEName(), views.Card(v)}}
	})
}

// stream subscribes to ids, sends their current state, then each change,
// until all are finished, the client leaves or the server stops. Images the
// viewer may not see (any more) are dropped, as if deleted.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, ids []uuid.UUID, events func(db.Image) []sseEvent) {
	rc := http.NewResponseController(w)
	ctx := r.Context()
	viewer := viewerFrom(ctx)

	// Subscribe before the first read so no change slips in between.
	sub := h.Hub.Subscribe(ids...)
	defer h.Hub.Unsubscribe(sub)

	unfinished := map[uuid.UUID]bool{}
	started := false
	send := func(id uuid.UUID) error {
		img, err := h.DB.Image(ctx, id)
		if errors.Is(err, db.ErrNotFound) || (err == nil && !viewer.CanSee(img)) {
			delete(unfinished, id)
			return nil
		}
		if err != nil {
			return err
		}
		if !started {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("X-Accel-Buffering", "no")
			started = true
		}
		if img.Finished() {
			delete(unfinished, id)
		} else {
			unfinished[id] = true
		}
		for _, ev := range events(img) {
			if err := writeEvent(ctx, w, ev); err != nil {
				return err
			}
		}
		return nil
	}

	for _, id := range ids {
		if err := send(id); err != nil {
			if !started {
				h.serverError(w, r, err)
			}
			return
		}
	}
	if !started {
		h.notFound(w, r)
		return
	}

	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		if len(unfinished) == 0 {
			fmt.Fprint(w, "event: done\ndata: done\n\n")
			rc.Flush()
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-h.Done:
			return
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case <-sub.Wake():
			for _, id := range sub.Changed() {
				if err := send(id); err != nil {
					if ctx.Err() == nil {
						h.Log.Error("event stream", "image", id, "err", err)
					}
					return
				}
			}
		}
	}
}

// writeEvent renders c and writes it as one event, a data line per line.
func writeEvent(ctx context.Context, w http.ResponseWriter, ev sseEvent) error {
	var buf bytes.Buffer
	if err := ev.html.Render(ctx, &buf); err != nil {
		return err
	}
	var out strings.Builder
	out.WriteString("event: " + ev.name + "\n")
	for _, line := range strings.Split(buf.String(), "\n") {
		out.WriteString("data: " + line + "\n")
	}
	out.WriteString("\n")
	_, err := fmt.Fprint(w, out.String())
	return err
}
