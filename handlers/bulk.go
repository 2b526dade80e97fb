package handlers

import (
	"errors"
	"net/http"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/jobs"
	"captionai/vocab"
)

// bulk applies action to the images ids in one transaction, each recorded
// in the audit log; ids the viewer may not see are skipped.
func (h *Handler) bulk(r *http.Request, v Viewer, action, reason string, ids []string) (int, error) {
	ctx := r.Context()
	tx, err := h.DB.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	done := 0
	var keys []string
	for _, s := range ids {
		id, err := uuid.Parse(s)
		if err != nil {
			continue
		}
		img, err := h.DB.Image(ctx, id)
		if errors.Is(err, db.ErrNotFound) || (err == nil && !v.CanSee(img)) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if action == vocab.ActHide {
			err = db.SetModerationTx(ctx, tx, id, vocab.Hidden, reason)
			if err == nil {
				err = db.ResolveReportsTx(ctx, tx, id, v.UserID, action)
			}
		} else {
			var k []string
			k, err = db.DeleteImageTx(ctx, tx, id)
			keys = append(keys, k...)
		}
		if err == nil {
			err = db.AuditTx(ctx, tx, db.Audit{Actor: v.UserID, ActorEmail: v.Email, Action: action, TargetImage: id, Reason: reason})
		}
		if err != nil {
			return 0, err
		}
		done++
	}
	if len(keys) > 0 {
		if _, err := h.Jobs.InsertManyTx(ctx, tx, jobs.DeleteFilesArgs{Keys: keys}); err != nil {
			return 0, err
		}
	}
	return done, tx.Commit(ctx)
}
