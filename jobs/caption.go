// Package jobs holds the River jobs: their args types sit next to their
// workers.
package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"captionai/db"
	"captionai/engine"
	"captionai/imagefile"
	"captionai/inference"
	"captionai/metrics"
	"captionai/storage"
)

// CaptionQueue runs caption jobs; its worker count equals the ONNX sessions.
const CaptionQueue = "caption"

// CaptionArgs asks for one image to be captioned.
type CaptionArgs struct {
	ImageID uuid.UUID `json:"image_id"`
	// Model names the captioner (its Name); empty means the default.
	Model string `json:"model,omitempty"`
}

func (CaptionArgs) Kind() string { return metrics.CaptionKind }

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
	// Models are the captioners besides Model (the default) that a job
	// may name.
	Models []Captioner
	// Fallback writes the caption when a remote engine (engine.Error)
	// fails: at once when it is unreachable, on the job's last attempt
	// otherwise. Nil: the engine's errors are the job's.
	Fallback Captioner
	// Sizes queues a derive job, in the caption's transaction, for an
	// image that lacks display sizes. False: none are made.
	Sizes bool
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
	model := w.captioner(job.Args.Model)
	if model == nil {
		// The web process checks names against its MODELS; a worker
		// started with other models cannot do this job, now or later.
		return w.fail(ctx, id, fmt.Errorf("the model %s is not installed on the worker", job.Args.Model))
	}

	f, err := w.Files.Open(ctx, img.StorageKey)
	if errors.Is(err, storage.ErrNotFound) {
		return w.fail(ctx, id, errors.New("the uploaded file is missing from storage"))
	}
	if err != nil {
		return err
	}
	decodeStart := time.Now()
	file, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return err
	}
	pixels, release, err := w.decode(ctx, img, file)
	decodeTook := time.Since(decodeStart)
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
	// Checked once per upload: a regenerated caption must not hold again
	// an image a moderator approved.
	if w.NSFW != nil && img.NSFWScores == nil {
		start := time.Now()
		s, err := w.NSFW.Classify(ctx, pixels)
		if err != nil {
			return w.modelFailed(ctx, job, "The automatic check failed: ", err)
		}
		scores, nsfwTook = &s, time.Since(start)
	}
	res, modelName, err := w.caption(ctx, job, model, pixels)
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
		Text: res.Text, Model: modelName,
		EncodeMS: ms(res.Encode), DecodeMS: ms(res.Decode), TotalMS: ms(res.Total),
		// nil and "" for engines and uncalibrated models: shown plainly.
		Confidence: res.Confidence, Certainty: res.Certainty,
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
	if w.Sizes && !hasAllDerivatives(img.Derivatives) {
		if _, err := river.ClientFromContext[pgx.Tx](ctx).InsertTx(ctx, tx, DeriveArgs{ImageID: id}, nil); err != nil {
			return fmt.Errorf("queueing the display sizes: %w", err)
		}
	}
	// Stored on the job (River's UI shows it) and read by the metrics.
	stages := metrics.CaptionStages{DecodeMS: ms(decodeTook), NSFWMS: ms(nsfwTook), EncoderMS: ms(res.Encode), DecoderMS: ms(res.Decode)}
	if err := river.RecordOutput(ctx, stages); err != nil {
		w.Log.Warn("recording the stage times", "image", id, "err", err)
	}
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return fmt.Errorf("completing caption job %d: %w", job.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	attrs := []any{"image", id, "model", modelName, "caption", res.Text,
		"encode_ms", ms(res.Encode), "decode_ms", ms(res.Decode), "total_ms", ms(res.Total)}
	if res.Confidence != nil {
		attrs = append(attrs, "confidence", *res.Confidence, "certainty", res.Certainty)
	}
	if scores != nil {
		attrs = append(attrs, "nsfw_ms", ms(nsfwTook), "held", held)
	}
	w.Log.Info("captioned", attrs...)
	return nil
}

// decode decodes the file with libvips, shrunk on load to what the models
// need, within the decode budget. A file libvips cannot read goes through
// Go's decoders instead (its derive job fails and it gets no sizes); one
// neither can read is the error. release gives the budget back once the
// pixels are no longer used.
func (w *CaptionWorker) decode(ctx context.Context, img db.Image, file []byte) (pixels image.Image, release func(), err error) {
	release, err = w.DecodeBudget.Acquire(ctx, imagefile.SharedCost(file))
	if err != nil {
		return nil, release, err
	}
	px, verr := imagefile.DecodeForModel(file, imagefile.ModelSideFor(img.Width, img.Height))
	if verr == nil {
		return px, release, nil
	}
	release()
	pixels, release, err = w.DecodeBudget.Decode(ctx, bytes.NewReader(file))
	if err == nil {
		w.Log.Warn("libvips could not decode the file, Go's decoder could", "image", img.ID, "err", verr)
	}
	return pixels, release, err
}

// captioner is the one named, or the default for ""; nil if none is.
func (w *CaptionWorker) captioner(name string) Captioner {
	if name == "" {
		return w.Model
	}
	for _, m := range append([]Captioner{w.Model}, w.Models...) {
		if m != nil && m.Name() == name {
			return m
		}
	}
	return nil
}

// caption runs m, or the fallback when m is an engine that failed, and
// says which model wrote the caption: the fallback's name says why it did,
// e.g. "captionai-flickr8k (fallback: ollama:llava unreachable)", and the
// image page shows it.
func (w *CaptionWorker) caption(ctx context.Context, job *river.Job[CaptionArgs], m Captioner, pixels image.Image) (inference.Result, string, error) {
	res, err := m.Caption(ctx, pixels)
	var ee *engine.Error
	if err == nil || w.Fallback == nil || !errors.As(err, &ee) || ctx.Err() != nil {
		return res, m.Name(), err
	}
	why := "unreachable"
	if !ee.Unreachable {
		if job.Attempt < job.MaxAttempts {
			return res, "", err // River retries with backoff
		}
		why = "failed"
	}
	w.Log.Warn("caption engine failed: falling back", "image", job.Args.ImageID, "engine", m.Name(),
		"fallback", w.Fallback.Name(), "attempt", job.Attempt, "err", err)
	res, err = w.Fallback.Caption(ctx, pixels)
	return res, fmt.Sprintf("%s (fallback: %s %s)", w.Fallback.Name(), m.Name(), why), err
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
