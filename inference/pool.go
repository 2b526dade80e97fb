package inference

import (
	"context"
	"errors"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// sessions lends out ONNX sessions (S: one session, or a set of them), one
// call at a time each; the captioner and the NSFW classifier both keep one
// per worker slot.
type sessions[S any] struct {
	pool      chan S
	size      int
	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
	destroy   func(S) error
}

// newSessions makes n (at least 1) sessions with create; if one fails, those
// made are destroyed.
func newSessions[S any](n int, create func() (S, error), destroy func(S) error) (*sessions[S], error) {
	n = max(n, 1)
	p := &sessions[S]{pool: make(chan S, n), size: n, closed: make(chan struct{}), destroy: destroy}
	for i := 0; i < n; i++ {
		s, err := create()
		if err != nil {
			for len(p.pool) > 0 {
				destroy(<-p.pool)
			}
			return nil, err
		}
		p.pool <- s
	}
	return p, nil
}

// acquire borrows a session and a RunOptions that ctx cancels; release
// returns both.
func (p *sessions[S]) acquire(ctx context.Context) (S, *ort.RunOptions, func(), error) {
	var s S
	if err := ctx.Err(); err != nil {
		return s, nil, nil, err
	}
	select {
	case <-p.closed:
		return s, nil, nil, ErrClosed
	default:
	}
	select {
	case s = <-p.pool:
	case <-ctx.Done():
		return s, nil, nil, ctx.Err()
	case <-p.closed:
		return s, nil, nil, ErrClosed
	}
	run, err := ort.NewRunOptions()
	if err != nil {
		p.pool <- s
		return s, nil, nil, err
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		run.Terminate()
		close(fired)
	})
	release := func() {
		if !stop() {
			<-fired
		}
		run.Destroy()
		p.pool <- s
	}
	return s, run, release, nil
}

// close waits for the sessions in use to come back and destroys them all.
func (p *sessions[S]) close() error {
	p.closeOnce.Do(func() {
		close(p.closed)
		var errs []error
		for i := 0; i < p.size; i++ {
			errs = append(errs, p.destroy(<-p.pool))
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}
