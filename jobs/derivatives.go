package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"captionai/db"
	"captionai/imagefile"
	"captionai/metrics"
	"captionai/storage"
)

// derivativeKinds are the kinds imagefile.Derive makes.
func derivativeKinds() []string {
	kinds := make([]string, len(imagefile.DerivativeKinds))
	for i, k := range imagefile.DerivativeKinds {
		kinds[i] = k.Kind
	}
	return kinds
}

// hasAllDerivatives reports whether ds holds every kind Derive makes.
func hasAllDerivatives(ds []db.Derivative) bool {
	have := map[string]bool{}
	for _, d := range ds {
		have[d.Kind] = true
	}
	for _, k := range imagefile.DerivativeKinds {
		if !have[k.Kind] {
			return false
		}
	}
	return true
}

// Deriver makes the display sizes of stored images and stores their files.
type Deriver struct {
	Files storage.Store
	// Budget bounds the memory of decoding across the process's jobs; nil
	// bounds nothing.
	Budget *imagefile.Budget
}

// Make reads the file under key (when file is nil), makes its derivatives
// from one decode within the decode budget, and stores their files. The
// caller records the rows (db.SaveDerivativesTx) and deletes the files it
// says went unused.
func (d Deriver) Make(ctx context.Context, id uuid.UUID, key string, file []byte) ([]db.Derivative, error) {
	if file == nil {
		f, err := d.Files.Open(ctx, key)
		if err != nil {
			return nil, err
		}
		file, err = io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", key, err)
		}
	}
	release, err := d.Budget.Acquire(ctx, imagefile.SharedCost(file))
	if err != nil {
		return nil, err
	}
	made, err := imagefile.Derive(file)
	release()
	if err != nil {
		return nil, err
	}
	return d.put(ctx, id, made)
}

// put stores the files of derivatives made of image id and returns their
// rows, for the caller to record.
func (d Deriver) put(ctx context.Context, id uuid.UUID, made []imagefile.Derivative) ([]db.Derivative, error) {
	out := make([]db.Derivative, 0, len(made))
	for _, m := range made {
		k := db.DerivativeKey(id, m.Kind, m.SHA256)
		n, err := d.Files.Put(ctx, k, bytes.NewReader(m.Bytes))
		if err != nil {
			return nil, err
		}
		out = append(out, db.Derivative{Kind: m.Kind, StorageKey: k, ContentType: imagefile.DerivativeType,
			Width: m.Width, Height: m.Height, SHA256: m.SHA256, SizeBytes: n})
	}
	return out, nil
}

// saveDerivativesTx records ds in tx and queues, in tx too, the deletion
// of the files that went unused (the image is gone, or had them already).
func saveDerivativesTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, ds []db.Derivative) error {
	unused, err := db.SaveDerivativesTx(ctx, tx, id, ds)
	if err != nil || len(unused) == 0 {
		return err
	}
	if _, err := river.ClientFromContext[pgx.Tx](ctx).InsertTx(ctx, tx, DeleteFilesArgs{Keys: unused}, nil); err != nil {
		return fmt.Errorf("queueing file deletion: %w", err)
	}
	return nil
}

// unfinishedStates are a job's states until it ends: the backfill job is
// unique within them, so that runs never overlap.
var unfinishedStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled}

// deriveStates: a derive job is unique per image while it waits or runs,
// and while River keeps its row after its last attempt failed (7 days), so
// that the backfill does not queue a file libvips cannot read every run.
var deriveStates = append(slices.Clone(unfinishedStates), rivertype.JobStateDiscarded)

// DeriveQueue runs derive jobs, one at a time, beside the caption queue:
// a photo's sizes never hold up another photo's caption.
const DeriveQueue = "derive"

// DeriveArgs makes the display sizes of one image. The caption job queues
// it in the transaction that stores the caption, so the caption does not
// wait for them: the models need a 1/8-scale decode of a 12 MP JPEG, the
// 1600 px view a 1/2-scale one and a WebP encoding several times longer.
// Until they exist, pages show the original.
type DeriveArgs struct {
	ImageID uuid.UUID `json:"image_id"`
}

func (DeriveArgs) Kind() string { return metrics.DeriveKind }

func (DeriveArgs) InsertOpts() river.InsertOpts {
	// A file libvips cannot read fails every time: a few attempts are enough.
	return river.InsertOpts{Queue: DeriveQueue, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: deriveStates}}
}

type DeriveWorker struct {
	river.WorkerDefaults[DeriveArgs]
	DB      *db.Store
	Deriver Deriver
}

// Timeout: the wait for the decode budget counts, and a large PNG takes a
// while on a busy core.
func (w *DeriveWorker) Timeout(*river.Job[DeriveArgs]) time.Duration { return 5 * time.Minute }

func (w *DeriveWorker) Work(ctx context.Context, job *river.Job[DeriveArgs]) error {
	img, err := w.DB.Image(ctx, job.Args.ImageID)
	if errors.Is(err, db.ErrNotFound) {
		// Deleted since. An earlier attempt may have stored files after the
		// delete took the folder (and crashed, or lost the race to record
		// them): take it again.
		_, err := river.ClientFromContext[pgx.Tx](ctx).Insert(ctx,
			DeleteFilesArgs{Keys: []string{db.DerivativeFolder(job.Args.ImageID)}}, nil)
		return err
	}
	if err != nil {
		return err
	}
	if hasAllDerivatives(img.Derivatives) {
		return nil
	}
	start := time.Now()
	ds, err := w.Deriver.Make(ctx, img.ID, img.StorageKey, nil)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // deleted since: the delete-files job took the original
	}
	if err != nil {
		return fmt.Errorf("making the display sizes of %s: %w", img.ID, err)
	}
	if err := saveDerivatives(ctx, w.DB, img.ID, ds); err != nil {
		return err
	}
	// A crash before River marks the job done reruns it, which finds the
	// sizes stored.
	return river.RecordOutput(ctx, metrics.CaptionStages{DerivativesMS: float64(time.Since(start)) / float64(time.Millisecond)})
}

// BackfillDerivativesArgs queues a derive job for each captioned image
// that lacks its sizes: images from before derivatives existed, and any
// whose derive job was lost. A periodic job (and at start), unique while it
// waits or runs, so runs never overlap. It only queues: the derive queue
// makes the sizes one image at a time, and never makes an image's twice at
// once, since derive jobs are unique per image.
type BackfillDerivativesArgs struct{}

func (BackfillDerivativesArgs) Kind() string { return "backfill_derivatives" }

func (BackfillDerivativesArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByState: unfinishedStates}}
}

// BackfillBatch is how many images the backfill looks up and queues at once.
const BackfillBatch = 500

// BackfillInterval is how often the backfill runs.
const BackfillInterval = 10 * time.Minute

type BackfillDerivativesWorker struct {
	river.WorkerDefaults[BackfillDerivativesArgs]
	DB  *db.Store
	Log *slog.Logger
}

func (w *BackfillDerivativesWorker) Work(ctx context.Context, job *river.Job[BackfillDerivativesArgs]) error {
	client := river.ClientFromContext[pgx.Tx](ctx)
	queued := 0
	for after := uuid.Nil; ; {
		imgs, err := w.DB.ImagesMissingDerivatives(ctx, derivativeKinds(), after, BackfillBatch)
		if err != nil {
			return err
		}
		if len(imgs) == 0 {
			break
		}
		params := make([]river.InsertManyParams, len(imgs))
		for i, img := range imgs {
			params[i] = river.InsertManyParams{Args: DeriveArgs{ImageID: img.ID}}
		}
		after = imgs[len(imgs)-1].ID
		res, err := client.InsertMany(ctx, params)
		if err != nil {
			return fmt.Errorf("queueing derive jobs: %w", err)
		}
		for _, r := range res {
			if !r.UniqueSkippedAsDuplicate {
				queued++
			}
		}
	}
	if queued > 0 {
		w.Log.Info("queued display sizes", "images", queued)
	}
	return nil
}

// saveDerivatives records ds in a transaction of their own.
func saveDerivatives(ctx context.Context, store *db.Store, id uuid.UUID, ds []db.Derivative) error {
	tx, err := store.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := saveDerivativesTx(ctx, tx, id, ds); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
