package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// worker is a background goroutine of the server: run works until its
// context ends, then returns.
type worker struct {
	name string
	run  func(ctx context.Context) error
}

// workers returns the server's workers in stages, in the order they stop:
// the sync loop and the reviewer first, the check-in recorder last, so
// that it saves what the others (and the HTTP handlers, stopped before
// all of them) handed it.
func (s *server) workers() [][]worker {
	first := []worker{{"sync", s.store.Run}}
	if s.reviewer != nil {
		first = append(first, worker{"review", s.reviewer.Run})
	}
	stages := [][]worker{first}
	if s.tracker != nil {
		stages = append(stages, []worker{{"check-ins", func(ctx context.Context) error {
			if err := s.tracker.Run(ctx); err != nil {
				return fmt.Errorf("not all saved: %w", err)
			}
			return nil
		}}})
	}
	return stages
}

// stages are running workers, stopped stage by stage.
type stages struct {
	log    *slog.Logger
	stages []*stage
	// failed receives the error of a worker that returned before it was
	// asked to stop; it has room for every worker, so none blocks on it.
	failed chan error
}

// stage is workers stopped together.
type stage struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startWorkers starts every worker. Their contexts carry ctx's values but
// end only when stop ends them.
func startWorkers(ctx context.Context, plan [][]worker, log *slog.Logger) *stages {
	n := 0
	for _, ws := range plan {
		n += len(ws)
	}
	all := &stages{log: log, failed: make(chan error, n)}
	for _, ws := range plan {
		st := &stage{}
		var sctx context.Context
		sctx, st.cancel = context.WithCancel(context.WithoutCancel(ctx))
		for _, w := range ws {
			st.wg.Add(1)
			go func() {
				defer st.wg.Done()
				all.finished(sctx, w, w.run(sctx))
			}()
		}
		all.stages = append(all.stages, st)
	}
	return all
}

// finished handles a worker's return: before it was asked to, it is a
// failure that ends the server; after, an error is logged.
func (all *stages) finished(ctx context.Context, w worker, err error) {
	switch {
	case ctx.Err() == nil:
		if err == nil {
			err = errors.New("stopped")
		}
		all.failed <- fmt.Errorf("%s: %w", w.name, err)
	case err != nil:
		all.log.Error("worker stopped with an error", "worker", w.name, "err", err)
	}
}

// stop stops the stages in order, each only once the one before it has
// stopped.
func (all *stages) stop() {
	for _, st := range all.stages {
		st.cancel()
		st.wg.Wait()
	}
}
