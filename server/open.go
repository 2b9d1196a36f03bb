package server

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/githubapi"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/webhook"
)

// Files and directories in the data directory, besides the Git clone.
const (
	artifactsDir    = "artifacts"
	githubStateFile = "github-releases.json"
	checkinsFile    = "checkins.db"
)

// open opens the stores in the data directory and makes the server's
// parts; nothing runs until the workers start. The caller closes the
// result.
func open(ctx context.Context, cfg Config) (*server, error) {
	s := &server{cfg: cfg, log: cfg.Logger, handlers: newInflight()}
	gh, err := githubapi.NewClient(githubapi.ClientConfig{Token: cfg.GitHubToken, BaseURL: cfg.GitHubAPI, Logger: s.log})
	if err != nil {
		return nil, err
	}
	if cfg.CheckIns {
		if err := s.openCheckIns(ctx); err != nil {
			s.close()
			return nil, err
		}
	}
	if err := s.openStore(gh); err != nil {
		s.close()
		return nil, err
	}
	if cfg.GitHubToken != "" {
		s.reviewer = webhook.NewReviewer(webhook.ReviewerConfig{
			Client: gh, Planner: reviewPlanner(s.store, s.tracker), Logger: s.log, TargetURL: cfg.PublicURL,
		})
	}
	return s, nil
}

// openStore makes the Git store, with the artifact cache it serves
// binaries from, GitHub releases as a source of firmware, and, with
// check-ins, the tracker told of every published snapshot.
func (s *server) openStore(gh *githubapi.Client) error {
	data := s.cfg.Store.DataDir
	cache, err := artifact.OpenCache(filepath.Join(data, artifactsDir))
	if err != nil {
		return err
	}
	known, err := githubapi.OpenKnownReleases(filepath.Join(data, githubStateFile))
	if err != nil {
		return err
	}
	opts := s.cfg.Store
	opts.Cache = cache
	opts.GitHub = &githubapi.Releases{API: gh, Cache: cache, Known: known}
	if s.tracker != nil {
		// A commit that changes a halted release lifts its halt.
		next := opts.OnPublish
		opts.OnPublish = func(snap *gitstore.Snapshot) {
			s.tracker.Reconcile(snap.Fleet)
			if next != nil {
				next(snap)
			}
		}
	}
	s.store, err = gitstore.New(opts)
	return err
}

// openCheckIns opens the check-in database and the tracker that records
// into it.
func (s *server) openCheckIns(ctx context.Context) error {
	db, err := checkin.OpenBolt(filepath.Join(s.cfg.Store.DataDir, checkinsFile), checkin.BoltOptions{})
	if err != nil {
		return err
	}
	s.closers = append(s.closers, db.Close)
	s.tracker, err = checkin.NewTracker(ctx, checkin.TrackerOptions{Store: db, FailAfter: s.cfg.FailAfter, Logger: s.log})
	return err
}

// close closes what open opened, last opened first.
func (s *server) close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	if err := errors.Join(errs...); err != nil {
		s.log.Error("closing the stores", "err", err)
		return err
	}
	return nil
}
