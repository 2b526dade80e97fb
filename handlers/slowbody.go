package handlers

import (
	"io"
	"net/http"
	"time"
)

// A request body must keep arriving, or its next read fails and the
// connection is closed: slow clients cannot hold connections and upload
// temp files open. The server has no ReadTimeout for this because a
// legitimate upload of many large photos on a slow uplink takes minutes.
const (
	// Each read must make progress within bodyStall. A live connection does
	// not go quiet for 10 s in the middle of a body; a dead or hostile one
	// does, even after sending a burst that would satisfy the rate below.
	bodyStall = 10 * time.Second
	// bodyGrace passes before bodyMinRate applies: TCP slow start, a client
	// waiting for 100 Continue, a phone waking its radio.
	bodyGrace = 10 * time.Second
	// bodyMinRate (bytes/s) is the least average over the whole body after
	// bodyGrace. It is far below any real uplink (a 20 MB photo at this rate
	// would take three hours) yet makes holding many uploads open cost a
	// client real bandwidth instead of one byte now and then.
	bodyMinRate = 2 << 10
)

// minBodyRate puts read deadlines on request bodies, extended as data
// arrives, so a body that stalls or trickles errors instead of waiting.
func minBodyRate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			b := &rateBody{body: r.Body, rc: http.NewResponseController(w), start: time.Now()}
			// Set now, not at the first read, so a body the handler never reads
			// is bounded too when the server drains it afterwards.
			if b.extend() == nil {
				r.Body = b
			}
		}
		next.ServeHTTP(w, r)
	})
}

type rateBody struct {
	body  io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	n     int64 // bytes read so far
}

func (b *rateBody) Read(p []byte) (int, error) {
	b.extend()
	n, err := b.body.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		// Past the body the server reads the connection in the background to
		// notice the client leaving; a deadline left set would end that read
		// and cancel the request's context while the handler still works.
		// After other errors the deadline stays, so nothing reads on without one.
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (b *rateBody) Close() error { return b.body.Close() }

// extend sets the deadline to the earlier of the stall limit and the moment
// the bytes read so far fall below the minimum average rate.
func (b *rateBody) extend() error {
	d := time.Now().Add(bodyStall)
	if due := b.start.Add(bodyGrace + time.Duration(b.n)*time.Second/bodyMinRate); due.Before(d) {
		d = due
	}
	return b.rc.SetReadDeadline(d)
}
