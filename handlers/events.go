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

// Every stream speaks one vocabulary: an event named after the image
// (views.Image.SSEName, "image-<id>") carrying its new HTML as the page
// that opened the stream shows it (the card in a grid, the caption block on
// the image page), then "done" once every image is finished.

// imageEvents streams one image's changes for its page.
func (h *Handler) imageEvents(w http.ResponseWriter, r *http.Request) {
	img, ok := h.loadImage(w, r)
	if !ok {
		return
	}
	viewer := viewerFrom(r.Context())
	h.stream(w, r, []db.Image{img}, func(img db.Image) templ.Component { return views.ImageUpdate(toView(img, viewer)) })
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
	h.stream(w, r, imgs, func(img db.Image) templ.Component { return views.Card(toView(img, viewer)) })
}

// stream subscribes to imgs, sends their current state (from the rows the
// caller loaded), then each change, until all are finished and have the
// display sizes they wait for (sizesPending), the client leaves or the
// server stops. Images the viewer may not see (any more) are
// dropped, as if deleted.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, imgs []db.Image, render func(db.Image) templ.Component) {
	rc := http.NewResponseController(w)
	ctx := r.Context()
	viewer := viewerFrom(ctx)

	// The caller read the rows before this subscription: a change in
	// between is caught by reading the unfinished ones once more below.
	ids := make([]uuid.UUID, len(imgs))
	for i, img := range imgs {
		ids[i] = img.ID
	}
	sub := h.Hub.Subscribe(ids...)
	defer h.Hub.Unsubscribe(sub)
	h.Metrics.StreamOpened()
	defer h.Metrics.StreamClosed()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	unfinished := map[uuid.UUID]bool{}
	// When a finished image stops waiting for its sizes (sizesWait after
	// its upload), without a change to wake the stream.
	sizesBy := map[uuid.UUID]time.Time{}
	send := func(img db.Image) error {
		delete(sizesBy, img.ID)
		if !viewer.CanSee(img) {
			delete(unfinished, img.ID)
			return nil
		}
		switch {
		case !img.Finished():
			unfinished[img.ID] = true
		case sizesPending(img, time.Now()):
			unfinished[img.ID] = true
			sizesBy[img.ID] = img.CreatedAt.Add(sizesWait)
		default:
			delete(unfinished, img.ID)
		}
		return writeEvent(ctx, w, views.SSEName(img.ID.String()), render(img))
	}
	reload := func(id uuid.UUID) error {
		img, err := h.DB.Image(ctx, id)
		if errors.Is(err, db.ErrNotFound) {
			delete(unfinished, id)
			delete(sizesBy, id)
			return nil
		}
		if err != nil {
			return err
		}
		return send(img)
	}

	for _, img := range imgs {
		if err := send(img); err != nil {
			return
		}
	}
	// What changed between the caller's read and the subscription: the
	// unfinished images once more, now that no change can slip past.
	for id := range unfinished {
		if err := reload(id); err != nil {
			h.Log.Error("event stream", "image", id, "err", err)
			return
		}
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
		case now := <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			for id, by := range sizesBy {
				if now.After(by) {
					if err := reload(id); err != nil { // shows the original after all
						return
					}
				}
			}
		case <-sub.Wake():
			for _, id := range sub.Changed() {
				if err := reload(id); err != nil {
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
func writeEvent(ctx context.Context, w http.ResponseWriter, name string, c templ.Component) error {
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		return err
	}
	var out strings.Builder
	out.WriteString("event: " + name + "\n")
	for _, line := range strings.Split(buf.String(), "\n") {
		out.WriteString("data: " + line + "\n")
	}
	out.WriteString("\n")
	_, err := fmt.Fprint(w, out.String())
	return err
}
