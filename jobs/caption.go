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

// Classifier scores an image for the NSFW check.
type Classifier interface {
	Classify(ctx context.Context, img image.Image) (inference.NSFWScores, error)
}

// CaptionWorker decodes a stored image, checks and captions it, and stores
// the scores, any hold and the caption in the transaction that completes
// the job.
type CaptionWorker struct {
	river.WorkerDefaults[CaptionArgs]
	DB    *db.Store
	Files storage.Store
	Model Captioner
	Log   *slog.Logger
	// DecodeBudget bounds the memory that decoded images take across all
	// the jobs of the process; nil bounds nothing.
	DecodeBudget *imagefile.Budget
	// NSFW scores every image; nil checks nothing. An image whose porn,
	// sexy or hentai probability reaches NSFWHold is held for review.
	NSFW     Classifier
	NSFWHold float64
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

	var scores *inference.NSFWScores
	var nsfwTook time.Duration
	if w.NSFW != nil {
		start := time.Now()
		s, err := w.NSFW.Classify(ctx, pixels)
		if err != nil {
			return w.modelFailed(ctx, job, "The automatic check failed: ", err)
		}
		scores, nsfwTook = &s, time.Since(start)
	}
	res, err := w.Model.Caption(ctx, pixels)
	release() // pixels is not used past here, so the collector may take it
	if err != nil {
		return w.modelFailed(ctx, job, "The captioning model failed: ", err)
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
	held := false
	if scores != nil {
		var reason string
		held, reason = nsfwHold(*scores, w.NSFWHold)
		if err := db.SetNSFWTx(ctx, tx, id, scores[:], held, reason); err != nil {
			return err
		}
	}
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return fmt.Errorf("completing caption job %d: %w", job.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	attrs := []any{"image", id, "caption", res.Text,
		"encode_ms", ms(res.Encode), "decode_ms", ms(res.Decode), "total_ms", ms(res.Total)}
	if scores != nil {
		attrs = append(attrs, "nsfw_ms", ms(nsfwTook), "held", held)
	}
	w.Log.Info("captioned", attrs...)
	return nil
}

// nsfwHold says whether scores hold an image for review at threshold, and
// the reason staff and the owner are given.
func nsfwHold(s inference.NSFWScores, threshold float64) (bool, string) {
	class, p := s.Explicit()
	if float64(p) < threshold {
		return false, ""
	}
	return true, fmt.Sprintf("The automatic check flagged it (%s %.2f)", class, p)
}

// modelFailed reports a model error: River retries the job, and after its
// last attempt the image is failed with what went wrong.
func (w *CaptionWorker) modelFailed(ctx context.Context, job *river.Job[CaptionArgs], what string, err error) error {
	id := job.Args.ImageID
	if job.Attempt >= job.MaxAttempts {
		if ferr := w.DB.MarkFailed(ctx, id, what+err.Error()); ferr != nil {
			return ferr
		}
	}
	return fmt.Errorf("captioning %s: %w", id, err)
}

// fail records a permanent failure on the image and cancels the job: a file
// that cannot be decoded now never will be.
func (w *CaptionWorker) fail(ctx context.Context, id uuid.UUID, reason error) error {
	if err := w.DB.MarkFailed(ctx, id, reason.Error()); err != nil {
		return err
	}
	return river.JobCancel(reason)
}
