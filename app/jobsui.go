package app

import (
	"context"
	"log/slog"
	"net/http"

	"riverqueue.com/riverui"

	"captionai/handlers"
	"captionai/jobs"
)

// jobsUI builds River's UI for admins. Its background counts run until
// done closes; without the UI /admin/jobs answers 404.
func jobsUI(client *jobs.Client, log *slog.Logger, done <-chan struct{}) http.Handler {
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(client, nil),
		Logger:    log,
		Prefix:    handlers.JobsUIPrefix,
	})
	if err != nil {
		log.Error("River UI unavailable", "err", err)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-done; cancel() }()
	if err := ui.Start(ctx); err != nil {
		log.Error("River UI unavailable", "err", err)
		return nil
	}
	return ui
}
