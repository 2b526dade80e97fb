package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"captionai/db"
	"captionai/jobs"
	"captionai/vocab"
)

// retryCaption queues a failed image for captioning again, for staff; to
// anyone else the address does not exist.
func (h *Handler) retryCaption(w http.ResponseWriter, r *http.Request) {
	v := viewerFrom(r.Context())
	if !v.IsStaff() {
		h.notFound(w, r)
		return
	}
	img, ok := h.loadImage(w, r)
	if !ok {
		return
	}
	err := db.ErrNotFound // unless it failed, there is nothing to retry
	if img.Status == vocab.Failed {
		err = h.moderate(r.Context(), v, db.Audit{Action: vocab.ActRetry, TargetImage: img.ID}, func(tx pgx.Tx) error {
			return h.requeueTx(r.Context(), tx, img.ID, vocab.Failed)
		})
	}
	switch {
	case errors.Is(err, db.ErrNotFound):
		// Not failed, or retried (or deleted) by someone else meanwhile.
		h.fail(w, r, http.StatusConflict, "Nothing to retry", "This photo's caption has not failed, so it was not queued again.")
		return
	case err != nil:
		h.serverError(w, r, err)
		return
	}
	h.Log.Info("caption retried", "image", img.ID, "by", v.UserID)
	h.flash(r, "Captioning again.")
	http.Redirect(w, r, "/images/"+img.ID.String(), http.StatusSeeOther)
}

// requeueTx inserts a caption job and points the image at it in tx: the
// image is queued exactly when its job exists.
func (h *Handler) requeueTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, from ...string) error {
	return h.requeueArgsTx(ctx, tx, jobs.CaptionArgs{ImageID: id}, from...)
}

// requeueArgsTx is requeueTx for a job that says more than the image.
func (h *Handler) requeueArgsTx(ctx context.Context, tx pgx.Tx, args jobs.CaptionArgs, from ...string) error {
	ids, err := h.Jobs.InsertManyTx(ctx, tx, args)
	if err != nil {
		return err
	}
	return db.RequeueImageTx(ctx, tx, args.ImageID, ids[0], from...)
}
