// Package notify fans Postgres notifications about image changes out to the
// SSE streams of this process. Workers NOTIFY; any web process LISTENs, so
// web and worker can run on different machines.
package notify

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgxlisten"

	"captionai/db"
)

// Hub tracks subscriptions by image id.
type Hub struct {
	mu    sync.Mutex
	subs  map[uuid.UUID]map[*Sub]struct{}
	ready chan struct{}
	once  sync.Once
}

// NewHub returns an empty hub; Run connects it to Postgres.
func NewHub() *Hub {
	return &Hub{subs: map[uuid.UUID]map[*Sub]struct{}{}, ready: make(chan struct{})}
}

// Sub receives the ids of changed images. Changes coalesce: a slow reader
// sees each changed id once, not every change.
type Sub struct {
	ids     []uuid.UUID
	mu      sync.Mutex
	pending map[uuid.UUID]struct{}
	wake    chan struct{}
}

// Wake is signalled when Changed has something.
func (s *Sub) Wake() <-chan struct{} { return s.wake }

// Changed returns and clears the ids changed since the last call.
func (s *Sub) Changed() []uuid.UUID {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]uuid.UUID, 0, len(s.pending))
	for id := range s.pending {
		ids = append(ids, id)
	}
	clear(s.pending)
	return ids
}

func (s *Sub) mark(id uuid.UUID) {
	s.mu.Lock()
	s.pending[id] = struct{}{}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Subscribe starts watching ids. Subscribe before reading the current state,
// so no change falls between the read and the subscription.
func (h *Hub) Subscribe(ids ...uuid.UUID) *Sub {
	s := &Sub{ids: ids, pending: map[uuid.UUID]struct{}{}, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		if h.subs[id] == nil {
			h.subs[id] = map[*Sub]struct{}{}
		}
		h.subs[id][s] = struct{}{}
	}
	return s
}

// Unsubscribe stops s.
func (h *Hub) Unsubscribe(s *Sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range s.ids {
		delete(h.subs[id], s)
		if len(h.subs[id]) == 0 {
			delete(h.subs, id)
		}
	}
}

// Publish marks id changed for its subscribers.
func (h *Hub) Publish(id uuid.UUID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[id] {
		s.mark(id)
	}
}

// publishAll marks every watched id changed, after a reconnect may have
// lost notifications.
func (h *Hub) publishAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, subs := range h.subs {
		for s := range subs {
			s.mark(id)
		}
	}
}

// Ready is closed once the hub first listens.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Run listens until ctx ends, reconnecting after errors.
func (h *Hub) Run(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	l := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			c, err := pool.Acquire(ctx)
			if err != nil {
				return nil, err
			}
			// The listener keeps the connection for good; take it out of the pool.
			return c.Hijack(), nil
		},
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() == nil {
				log.Warn("listening for image events", "err", err)
			}
		},
		ReconnectDelay: 2 * time.Second,
	}
	l.Handle(db.EventsChannel, handler{h})
	return l.Listen(ctx)
}

type handler struct{ h *Hub }

func (x handler) HandleNotification(ctx context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	if id, err := uuid.Parse(n.Payload); err == nil {
		x.h.Publish(id)
	}
	return nil
}

// HandleBacklog runs once LISTEN is in place, on each (re)connect.
func (x handler) HandleBacklog(ctx context.Context, channel string, _ *pgx.Conn) error {
	x.h.once.Do(func() { close(x.h.ready) })
	x.h.publishAll()
	return nil
}
