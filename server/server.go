package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/githubapi"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/webhook"
)

// server is one run of the update server: what Run opened, and what it
// must stop and close.
type server struct {
	cfg Config
	log *slog.Logger

	store    *gitstore.Store
	tracker  *checkin.Tracker  // nil without check-ins
	reviewer *webhook.Reviewer // nil without a GitHub token
	github   *githubapi.Client
	// closers close what open opened, in reverse order.
	closers []func() error
	// handlers counts the HTTP handlers running.
	handlers *inflight
}

// Run runs the server until ctx is done, then shuts it down in order:
//
//  1. the HTTP servers stop accepting connections and let the requests
//     under way finish for up to cfg.ShutdownTimeout; downloads still
//     running then are cut off, and their handlers awaited (see
//     CutOffWait), so that every answered request's check-in is handed
//     to the recorder;
//  2. the Git sync loop and the pull request reviewer stop;
//  3. the check-in recorder saves what it holds and stops;
//  4. the stores are closed.
//
// Run returns nil after a shutdown that ctx asked for, or else the error
// that ended it: a store that cannot be opened, an address that cannot be
// listened on, a listener or a worker that failed.
func Run(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	s, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.close()
	lns, err := listen(cfg.Listeners)
	if err != nil {
		return err
	}
	web := newWebServer(s.routes(), cfg.Listeners, lns, s.log)
	stages := startWorkers(ctx, s.workers(), s.log)
	web.start()

	addrs := web.addrs()
	s.log.Info("otagit serving", "listen", strings.Join(addrs, ", "), "repo", cfg.Store.Remote.String(),
		"branch", cfg.Store.Remote.Branch, "data", cfg.Store.DataDir, "poll", cfg.Store.Poll,
		"tls", tlsAddrs(cfg.Listeners, addrs), "operator", operatorAddrs(cfg.Listeners, addrs),
		"webhook", cfg.WebhookSecret.Set(), "pr_review", s.reviewer != nil, "checkins", s.tracker != nil,
		"admin_api", cfg.AdminToken.Set(), "read_token", cfg.ReadToken.Set(), "trusted_proxies", cfg.TrustedProxies.Len())
	if cfg.Ready != nil {
		cfg.Ready(addrs)
	}

	reloads := startReloads(cfg.Reload, s.reloaders(), s.log)
	defer reloads.stop()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-web.failed:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-stages.failed:
		runErr = err
	}
	s.log.Info("shutting down")
	web.stop(cfg.ShutdownTimeout, s.handlers)
	stages.stop()
	return runErr
}
