// Package jobs holds the River jobs: their args types sit next to their
// workers.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"captionai/db"
	"captionai/imagefile"
	"captionai/inference"
	"captionai/storage"
)

// CaptionQueue runs caption jobs; its worker count equals the ONNX sessions.
const CaptionQueue = "caption"

// CaptionArgs asks for one image to be captioned.
type CaptionArgs struct {
	ImageID uuid.UUID `json:"image_id"`
}

func (CaptionArgs) Kind() string { return "caption" }

func (CaptionArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: CaptionQueue, MaxAttempts: 5}
}

// Captioner writes a caption for an image.
type Captioner interface {
	Caption(ctx context.Context, img image.Image) (inference.Result, error)
	Name() string
}

// CaptionWorker decodes a stored image, captions it, and stores the caption
// in the transaction that completes the job.
type CaptionWorker struct {
	river.WorkerDefaults[CaptionArgs]
	DB    *db.Store
	Files storage.Store
	Model Captioner
	Log   *slog.Logger
	// DecodeBudget bounds the memory that decoded images take across all
	// the jobs of the process; nil bounds nothing.
	DecodeBudget *imagefile.Budget
}

func (w *CaptionWorker) Work(ctx context.Context, job *river.Job[CaptionArgs]) error {
	id := job.Args.ImageID
	img, err := w.DB.StartCaptioning(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil // deleted, or captioned by an earlier attempt
	}
	if err != nil {
		return err
	}

	f, err := w.Files.Open(ctx, img.StorageKey)
	if errors.Is(err, storage.ErrNotFound) {
		return w.fail(ctx, id, errors.New("the uploaded file is missing from storage"))
	}
	if err != nil {
		return err
	}
	pixels, release, err := w.DecodeBudget.Decode(ctx, f)
	f.Close()
	// Deferred too, for a panic in the model: a budget never released would
	// stall every later job.
	defer release()
	if err != nil {
		if ctx.Err() != nil {
			return err // cancelled while waiting for the budget: retried
		}
		return w.fail(ctx, id, err)
	}

	res, err := w.Model.Caption(ctx, pixels)
	release() // pixels is not used past here, so the collector may take it
	if err != nil {
		if job.Attempt >= job.MaxAttempts {
			if ferr := w.DB.MarkFailed(ctx, id, "The captioning model failed: "+err.Error()); ferr != nil {
				return ferr
			}
		}
		return fmt.Errorf("captioning %s: %w", id, err)
	}

	tx, err := w.DB.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	if err := db.MarkCaptionedTx(ctx, tx, id, db.Caption{
		Text: res.Text, Model: w.Model.Name(),
		EncodeMS: ms(res.Encode), DecodeMS: ms(res.Decode), TotalMS: ms(res.Total),
	}); err != nil {
		return err
	}
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return fmt.Errorf("completing caption job %d: %w", job.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	w.Log.Info("captioned", "image", id, "caption", res.Text,
		"encode_ms", ms(res.Encode), "decode_ms", ms(res.Decode), "total_ms", ms(res.Total))
	return nil
}

// fail records a permanent failure on the image and cancels the job: a file
// that cannot be decoded now never will be.
func (w *CaptionWorker) fail(ctx context.Context, id uuid.UUID, reason error) error {
	if err := w.DB.MarkFailed(ctx, id, reason.Error()); err != nil {
		return err
	}
	return river.JobCancel(reason)
}
