package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestStagesStopInOrder: a later stage's workers are asked to stop only
// once every worker of the stages before has returned.
func TestStagesStopInOrder(t *testing.T) {
	var firstDone atomic.Int32
	firstWorker := func(ctx context.Context) error {
		<-ctx.Done()
		firstDone.Add(1)
		return nil
	}
	sawFirstDone := make(chan int32, 1)
	last := func(ctx context.Context) error {
		<-ctx.Done()
		sawFirstDone <- firstDone.Load()
		return nil
	}
	st := startWorkers(context.Background(), [][]worker{
		{{"a", firstWorker}, {"b", firstWorker}},
		{{"last", last}},
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	st.stop()
	if got := <-sawFirstDone; got != 2 {
		t.Errorf("the last stage was stopped when %d of 2 first-stage workers had returned", got)
	}
	select {
	case err := <-st.failed:
		t.Errorf("a worker that was asked to stop counts as failed: %v", err)
	default:
	}
}

// TestWorkerFailure: a worker that returns before it is asked to ends the
// server with its error, named.
func TestWorkerFailure(t *testing.T) {
	boom := errors.New("boom")
	st := startWorkers(context.Background(), [][]worker{
		{{"sync", func(context.Context) error { return boom }}},
		{{"other", func(ctx context.Context) error { <-ctx.Done(); return nil }}},
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	err := <-st.failed
	if !errors.Is(err, boom) || err.Error() != "sync: boom" {
		t.Errorf("got %v, want sync: boom", err)
	}
	st.stop()
}

// TestInflightWait: wait returns once the last counted handler has
// returned, and with ctx's error while one still runs.
func TestInflightWait(t *testing.T) {
	c := newInflight()
	entered, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	h := c.count(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		finished.Store(true)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for range 2 {
		go func() {
			if res, err := http.Get(srv.URL); err == nil {
				res.Body.Close()
			}
		}()
		<-entered
	}
	if got := c.running(); got != 2 {
		t.Fatalf("running: got %d, want 2", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with handlers running and ctx done: got %v", err)
	}
	close(release)
	if err := c.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !finished.Load() || c.running() != 0 {
		t.Errorf("wait returned with %d handlers running", c.running())
	}
}
