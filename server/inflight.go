package server

import (
	"context"
	"net/http"
	"sync/atomic"
)

// inflight counts running HTTP handlers, so that shutdown can wait for the
// last one (and the check-in it hands over) instead of polling. The request
// path costs two atomic adds and a load; only a waiter is woken.
type inflight struct {
	n       atomic.Int64
	waiting atomic.Bool
	zero    chan struct{} // capacity 1: a pending wake-up of the waiter
}

func newInflight() *inflight { return &inflight{zero: make(chan struct{}, 1)} }

// count returns h counted.
func (c *inflight) count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		defer c.done()
		h.ServeHTTP(w, r)
	})
}

func (c *inflight) done() {
	// waiting is read after the decrement: a waiter that set it too late
	// to be seen here reads n after the decrement, so no wake-up is lost.
	if c.n.Add(-1) == 0 && c.waiting.Load() {
		select {
		case c.zero <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// running returns how many handlers run.
func (c *inflight) running() int64 { return c.n.Load() }

// wait returns nil once no handler runs, or ctx's error if ctx ends first.
// One goroutine at a time may wait.
func (c *inflight) wait(ctx context.Context) error {
	c.waiting.Store(true)
	defer c.waiting.Store(false)
	for c.n.Load() > 0 {
		select {
		case <-c.zero: // n reached zero once; check it again
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
