package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/otagit/otagit/access"
)

// listen opens every listener that is not open yet, or none: on an
// error, every listener is closed, those given open too.
func listen(ls []Listener) ([]net.Listener, error) {
	lns := make([]net.Listener, len(ls))
	for i, l := range ls {
		lns[i] = l.Listener
	}
	for i, l := range ls {
		if lns[i] != nil {
			continue
		}
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			for _, o := range lns {
				if o != nil {
					o.Close()
				}
			}
			return nil, fmt.Errorf("listen on %s: %w", l.Addr, err)
		}
		lns[i] = ln
	}
	return lns, nil
}

// webServer is the HTTP servers on the listeners, one each so that each
// has its own TLS and operator setting.
type webServer struct {
	srvs []*http.Server
	lns  []net.Listener
	log  *slog.Logger
	// failed receives the error of a listener whose Serve ended before
	// stop; it has room for every listener, so Serve never blocks on it.
	failed chan error
	wg     sync.WaitGroup // the Serve goroutines
}

func newWebServer(h http.Handler, ls []Listener, lns []net.Listener, log *slog.Logger) *webServer {
	w := &webServer{lns: lns, log: log, failed: make(chan error, len(lns))}
	for _, l := range ls {
		srv := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			TLSConfig:         l.TLS,
		}
		if l.Operator {
			srv.BaseContext = func(net.Listener) context.Context { return access.WithOperator(context.Background()) }
		}
		w.srvs = append(w.srvs, srv)
	}
	return w
}

// addrs returns the listeners' addresses.
func (w *webServer) addrs() []string {
	out := make([]string, len(w.lns))
	for i, ln := range w.lns {
		out[i] = ln.Addr().String()
	}
	return out
}

// start serves on every listener, one goroutine each; stop ends them.
func (w *webServer) start() {
	for i, ln := range w.lns {
		srv := w.srvs[i]
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			var err error
			if srv.TLSConfig != nil {
				// The certificate comes from TLSConfig.
				err = srv.ServeTLS(ln, "", "")
			} else {
				err = srv.Serve(ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				w.failed <- fmt.Errorf("%s: %w", ln.Addr(), err)
			}
		}()
	}
}

// stop closes the listeners and lets the requests under way finish for
// up to grace; the connections still open then are closed. It returns once
// no handler counted by handlers runs any more, or CutOffWait after the
// connections were closed.
func (w *webServer) stop(grace time.Duration, handlers *inflight) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	errs := make(chan error, len(w.srvs))
	for _, srv := range w.srvs {
		go func() { errs <- srv.Shutdown(ctx) }()
	}
	var cut bool
	for range w.srvs {
		if err := <-errs; err != nil && !cut {
			cut = true
			// Downloads still running after the grace period are cut off;
			// their handlers then finish quickly and record their check-ins.
			w.log.Warn("http shutdown: closing the connections left", "err", err)
		}
	}
	if cut {
		for _, srv := range w.srvs {
			srv.Close()
		}
		var cancelWait context.CancelFunc
		ctx, cancelWait = context.WithTimeout(context.Background(), CutOffWait)
		defer cancelWait()
	}
	w.wg.Wait()
	if err := handlers.wait(ctx); err != nil {
		w.log.Error("http handlers still running after their connections were closed; their check-ins may be lost",
			"handlers", handlers.running(), "err", err)
	}
}
