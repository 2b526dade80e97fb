package jobs

import (
	"cmp"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"captionai/db"
	"captionai/imagefile"
	"captionai/inference"
	"captionai/mail"
	"captionai/storage"
)

// Client is the River client type the app uses.
type Client = river.Client[pgx.Tx]

// NewInserter returns a client that only inserts jobs, for web processes.
func NewInserter(pool *pgxpool.Pool, log *slog.Logger) (*Client, error) {
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger:        log,
		FetchCooldown: fetchCooldown, // also paces insert notifications
	})
	if err != nil {
		return nil, fmt.Errorf("river: %w", err)
	}
	return c, nil
}

// WorkerConfig is what a worker process needs.
type WorkerConfig struct {
	DB         *db.Store
	Files      storage.Store
	Model      Captioner
	Sessions   int // caption jobs at once: one per ONNX session
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before River takes it
	// from a worker presumed dead; zero means JobTimeout plus 30s.
	RescueAfter    time.Duration
	GuestRetention time.Duration // unclaimed guest uploads are deleted after this
	Mail           mail.Sender
	PublicURL      string // base of links in email
	Log            *slog.Logger
	// DecodeBudget is the memory all caption jobs may take at once for
	// decoded images; nil means a budget of imagefile.DefaultBudget.
	DecodeBudget *imagefile.Budget
	// NSFW checks every image before its caption is stored; nil checks
	// nothing. Scores reaching NSFWHold hold the image for review.
	NSFW     *inference.NSFW
	NSFWHold float64
	// Others are the other installed models, which a job may name.
	Others []Captioner
	// Engine, when set, captions by default instead of Model (MODEL_DIR's),
	// which stands in when it fails (CaptionWorker.Fallback).
	Engine Captioner
}

// fetchCooldown is short so that a job inserted right after another is
// still announced by NOTIFY and picked up at once, not at the next poll.
const fetchCooldown = 5 * time.Millisecond

// NewWorker returns a client that inserts and works jobs.
func NewWorker(pool *pgxpool.Pool, c WorkerConfig) (*Client, error) {
	workers := river.NewWorkers()
	budget := c.DecodeBudget
	if budget == nil {
		budget = imagefile.NewBudget(imagefile.DefaultBudget)
	}
	deriver := Deriver{Files: c.Files, Budget: budget}
	cw := &CaptionWorker{DB: c.DB, Files: c.Files, Model: c.Model, Log: c.Log, DecodeBudget: budget, NSFWHold: c.NSFWHold, Sizes: true}
	if c.NSFW != nil { // a nil *inference.NSFW would make a non-nil Classifier
		cw.NSFW = c.NSFW
	}
	cw.Models = c.Others
	if c.Engine != nil {
		cw.Model, cw.Fallback = c.Engine, c.Model
		cw.Models = append([]Captioner{c.Model}, c.Others...)
	}
	river.AddWorker(workers, cw)
	river.AddWorker(workers, &ReconcileWorker{DB: c.DB, Log: c.Log})
	river.AddWorker(workers, &DeleteFilesWorker{Files: c.Files})
	mailer := Mailer{DB: c.DB, Mail: c.Mail, PublicURL: c.PublicURL}
	river.AddWorker(workers, &ResetEmailWorker{Mailer: mailer})
	river.AddWorker(workers, &VerifyEmailWorker{Mailer: mailer})
	river.AddWorker(workers, &AccountExistsWorker{Mailer: mailer})
	river.AddWorker(workers, &HousekeepingWorker{DB: c.DB, Retention: c.GuestRetention, Log: c.Log})
	river.AddWorker(workers, &DeriveWorker{DB: c.DB, Deriver: deriver})
	river.AddWorker(workers, &BackfillDerivativesWorker{DB: c.DB, Log: c.Log})

	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger: c.Log,
		Queues: map[string]river.QueueConfig{
			CaptionQueue:       {MaxWorkers: c.Sessions},
			DeriveQueue:        {MaxWorkers: 1},
			river.QueueDefault: {MaxWorkers: 1},
		},
		Workers:           workers,
		FetchCooldown:     fetchCooldown,
		FetchPollInterval: time.Second,
		JobTimeout:        c.JobTimeout,
		// A job left running by a killed worker returns to the queue this
		// soon after its timeout, instead of River's default hour.
		RescueStuckJobsAfter: cmp.Or(c.RescueAfter, c.JobTimeout+30*time.Second),
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
				func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
				func() (river.JobArgs, *river.InsertOpts) { return HousekeepingArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(BackfillInterval),
				func() (river.JobArgs, *river.InsertOpts) { return BackfillDerivativesArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("river: %w", err)
	}
	return client, nil
}
