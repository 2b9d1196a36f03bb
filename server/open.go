package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

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
	journalFile     = "checkins.journal"
)

// open opens the stores in the data directory and makes the server's
// parts; nothing runs until the workers start. The caller closes the
// result.
func open(ctx context.Context, cfg Config) (*server, error) {
	s := &server{cfg: cfg, log: cfg.Logger, handlers: newInflight()}
	// A first start makes the data directory (systemd's StateDirectory
	// or a Docker volume usually already has).
	if err := os.MkdirAll(cfg.Store.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	gh, err := githubapi.NewClient(githubapi.ClientConfig{Token: cfg.GitHubToken, BaseURL: cfg.GitHubAPI, Logger: s.log})
	if err != nil {
		return nil, err
	}
	s.github = gh
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

// openCheckIns opens the check-in store, PostgreSQL with a StoreDSN and
// DATA/checkins.db otherwise, and the tracker that records into it.
func (s *server) openCheckIns(ctx context.Context) error {
	topts := checkin.TrackerOptions{FailAfter: s.cfg.FailAfter, Logger: s.log}
	// The journal is this replica's, whatever the store: what it
	// acknowledged and had not saved when it died is replayed into the
	// store before anything is served. Opened first, it closes last,
	// after the writer has stopped.
	j, err := checkin.OpenJournal(filepath.Join(s.cfg.Store.DataDir, journalFile), checkin.JournalOptions{Logger: s.log})
	if err != nil {
		return err
	}
	s.closers = append(s.closers, j.Close)
	topts.Journal = j
	if s.cfg.StoreDSN != "" {
		// Devices are served while the database is down, also at start:
		// the store connects and the tracker reads it in the background.
		db, err := checkin.NewPostgres(checkin.PostgresOptions{DSN: s.cfg.StoreDSN, Password: s.cfg.StorePassword, Logger: s.log})
		if err != nil {
			return err
		}
		s.closers = append(s.closers, db.Close)
		topts.Store, topts.Info, topts.Deferred = db, checkin.StoreInfo{Kind: "postgres"}, true
		s.tracker, err = checkin.NewTracker(ctx, topts)
		return err
	}
	path := filepath.Join(s.cfg.Store.DataDir, checkinsFile)
	topts.Info = checkin.StoreInfo{Kind: "bbolt"}
	for attempt := 0; ; attempt++ {
		db, err := checkin.OpenBoltChecked(path, checkin.BoltOptions{})
		if err == nil {
			topts.Store = db
			s.tracker, err = checkin.NewTracker(ctx, topts)
			if err != nil {
				db.Close()
			}
		}
		if err == nil {
			s.closers = append(s.closers, db.Close)
			return nil
		}
		if attempt > 0 || !errors.Is(err, checkin.ErrCorrupt) {
			return err
		}
		if topts.Info, err = setAside(path, err, s.log); err != nil {
			return err
		}
	}
}

// setAside renames a damaged check-in file to checkins.db.damaged-<time>,
// so that the server starts with a fresh one: devices must be served, and
// their history is not worth an outage. damage is why; a file locked by
// another process or unreadable for its permissions is not damaged and is
// never set aside.
func setAside(path string, damage error, log *slog.Logger) (checkin.StoreInfo, error) {
	now := time.Now().UTC()
	aside := path + ".damaged-" + now.Format("20060102T150405.000Z")
	if err := os.Rename(path, aside); err != nil {
		return checkin.StoreInfo{}, fmt.Errorf("%w; setting it aside: %w", damage, err)
	}
	log.Error("check-in store damaged: set aside, starting with an empty one; device history, pending offers and outcomes before now are not in it",
		"component", "checkin", "file", path, "set_aside_as", aside, "err", damage)
	return checkin.StoreInfo{Kind: "bbolt", SetAside: aside, SetAsideAt: now, SetAsideReason: damage.Error()}, nil
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
