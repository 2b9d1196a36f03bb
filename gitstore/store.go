package gitstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/commitsig"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/internal/atomicfile"
)

// Options configures a Store.
type Options struct {
	// Remote is the config repository to serve.
	Remote Remote
	// DataDir holds the local clone, the artifact cache and the state file.
	DataDir string
	// Poll is how often to fetch without a webhook; 0 disables polling.
	Poll time.Duration
	// FetchTimeout bounds one fetch. Default 2 minutes.
	FetchTimeout time.Duration
	// Logger receives sync events. Default slog.Default().
	Logger *slog.Logger
	// Cache is the artifact cache binaries are stored in and served
	// from. Default: DataDir/artifacts.
	Cache *artifact.Cache
	// GitHub resolves GitHub releases for configs that take firmware from
	// them; nil means such releases cannot be served. It should store
	// assets in Cache.
	GitHub config.ReleaseSource
	// Trust is the server's trust in signed firmware (see config.Trust).
	// Nil trusts no key; platforms that require signatures are refused.
	Trust *config.Trust
	// Commits, when set, are the keys whose signatures make a commit
	// servable: a branch head that is unsigned or signed by another key
	// is rejected like an invalid one, and so is a last good commit that
	// no longer verifies at restart.
	Commits *commitsig.Keyring
	// KeepSnapshots is how many published snapshots, the current one
	// included, keep their binaries in Cache; the cache collects the
	// others' after every publish. At least 2 (the snapshot just replaced
	// may still have downloads starting); default DefaultKeepSnapshots.
	KeepSnapshots int
	// MaxPacks is how many pack files the local clone may have before its
	// reachable objects are packed into one and the rest, the objects of
	// commits force-pushed away included, deleted. Default DefaultMaxPacks.
	MaxPacks int
	// OnPublish, when set, is called with every snapshot published, after
	// Current returns it, in the order they are published. It is called
	// by Run's goroutine, which it must not block for long.
	OnPublish func(*Snapshot)
}

// DefaultKeepSnapshots is the default of Options.KeepSnapshots.
const DefaultKeepSnapshots = 3

// Status is what the Store reports about its syncing, for /api/status and
// logs. A Status value is a copy; it does not change.
type Status struct {
	// Repo is the remote's address with any password removed.
	Repo string `json:"repo"`
	// Branch is the served branch.
	Branch string `json:"branch"`
	// Commit is the commit being served, "" before the first valid one.
	Commit string `json:"commit,omitempty"`
	// Subject, Author and CommitTime describe Commit.
	Subject    string    `json:"subject,omitempty"`
	Author     string    `json:"author,omitempty"`
	CommitTime time.Time `json:"commit_time,omitzero"`
	// PublishedAt is when Commit started being served.
	PublishedAt time.Time `json:"published_at,omitzero"`
	// SyncedAt is when the last sync finished without error: the branch
	// was fetched and its head is served or was rejected.
	SyncedAt time.Time `json:"synced_at,omitzero"`
	// SyncDuration is how long that sync took.
	SyncDuration time.Duration `json:"sync_duration_ns,omitempty"`
	// Syncs counts finished sync attempts, successful or not.
	Syncs uint64 `json:"syncs"`
	// LastError is why the last sync failed ("" when it succeeded):
	// fetch, auth or storage trouble, or a rejected commit.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// RejectedCommit is the branch head when it is not served because its
	// config is invalid (Problems lists why) or, with commit signatures
	// required, its signature is missing or not trusted. RejectedReason
	// says which, in one line. All clear once the branch head is served.
	RejectedCommit string          `json:"rejected_commit,omitempty"`
	RejectedReason string          `json:"rejected_reason,omitempty"`
	Problems       config.Problems `json:"problems,omitempty"`
	// SignedBy names the key that signed Commit, when commit signatures
	// are required.
	SignedBy string `json:"signed_by,omitempty"`
	// Warnings are the served commit's warnings.
	Warnings config.Problems `json:"warnings,omitempty"`
	// GitHubError is set while the last sync could not read GitHub fully:
	// what could not be read is left out, or used as last seen.
	GitHubError string `json:"github_error,omitempty"`
	// StorageError is set while the last sync failed for a storage fault:
	// the disk full or failing, the local clone damaged (it is then
	// rebuilt from the remote). Such syncs are retried with backoff; the
	// commit is not rejected and what is served stays served.
	StorageError string `json:"storage_error,omitempty"`
	// FromSavedCopy is set while Commit is served from the saved copy of
	// the last good commit in the data directory, because the local
	// clone could not give it (damaged, and not yet cloned again: the
	// remote unreachable, say); it says why. Cloning again is retried
	// with backoff; it clears once the clone is made again.
	FromSavedCopy string `json:"from_saved_copy,omitempty"`
	// Artifacts describes the artifact cache: what it holds and what its
	// collections removed.
	Artifacts artifact.Stats `json:"artifacts"`
}

// Store keeps a local clone of the config repository in sync and publishes
// the newest valid commit as a Snapshot. Current and Status are safe for
// concurrent use and never wait for a sync; Run owns the repository.
type Store struct {
	opts  Options
	log   *slog.Logger
	cache *artifact.Cache

	cur    atomic.Pointer[Snapshot] // never mutated after Store
	status atomic.Pointer[Status]   // never mutated after Store
	kick   chan struct{}            // a pending sync; capacity 1 so requests coalesce
	work   chan func()              // jobs that need the repository, run by Run
	// started is closed when Run starts, stopped when it returns.
	started, stopped chan struct{}

	// Owned by the Run goroutine.
	repo *git.Repository
	hist *History
	// scans remembers binary scans across loads.
	scans *config.ScanMemo
	// rejectedGitHub is set when the rejected commit takes releases from
	// GitHub, so that it is checked again: GitHub may have changed.
	rejectedGitHub bool
	// trust and commits are Options.Trust and Options.Commits, or what
	// SetTrust and SetCommits replaced them with.
	trust   atomic.Pointer[config.Trust]
	commits atomic.Pointer[commitsig.Keyring]
	// recheck makes the next sync load the head again although it was
	// rejected: the keys it was checked with changed.
	recheck atomic.Bool
	// cloneDamaged is set while the local clone is known damaged and not
	// yet cloned again: the next sync clones it first.
	cloneDamaged bool
	// repair is set when the cache lost a corrupt binary: the next sync
	// loads the served commit again, which stores it again (storeAgain).
	repair bool
	// kept are the binaries of the last KeepSnapshots published
	// snapshots, oldest first; the cache collects every other.
	kept []keptSnapshot
}

// New prepares a Store; Run starts it. New does no network I/O.
func New(opts Options) (*Store, error) {
	if opts.Remote.URL == "" {
		return nil, errors.New("no repository given")
	}
	if opts.DataDir == "" {
		return nil, errors.New("no data directory given")
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Trust == nil {
		opts.Trust = &config.Trust{}
	}
	if opts.MaxPacks <= 0 {
		opts.MaxPacks = DefaultMaxPacks
	}
	switch {
	case opts.KeepSnapshots == 0:
		opts.KeepSnapshots = DefaultKeepSnapshots
	case opts.KeepSnapshots < 2:
		return nil, fmt.Errorf("keep snapshots %d: at least 2 are kept (the one served and the one before it)", opts.KeepSnapshots)
	}
	if _, err := opts.Remote.endpointURL(); err != nil {
		return nil, err
	}
	if _, err := opts.Remote.auth(); err != nil {
		return nil, err
	}
	if err := checkLocalRemote(opts.Remote, opts.DataDir); err != nil {
		return nil, err
	}
	if opts.Cache == nil {
		cache, err := artifact.OpenCache(filepath.Join(opts.DataDir, "artifacts"))
		if err != nil {
			return nil, err
		}
		opts.Cache = cache
	}
	s := &Store{
		opts:    opts,
		log:     opts.Logger.With("component", "gitstore"),
		cache:   opts.Cache,
		kick:    make(chan struct{}, 1),
		work:    make(chan func()),
		started: make(chan struct{}),
		stopped: make(chan struct{}),
		hist:    NewHistory(),
		scans:   config.NewScanMemo(),
	}
	s.status.Store(&Status{Repo: opts.Remote.String(), Branch: opts.Remote.branch()})
	s.trust.Store(opts.Trust)
	s.commits.Store(opts.Commits)
	return s, nil
}

// Current returns the snapshot being served, or nil before the first valid
// commit. It never blocks.
func (s *Store) Current() *Snapshot { return s.cur.Load() }

// Status returns the current sync status. It never blocks.
func (s *Store) Status() Status {
	st := *s.status.Load()
	st.Artifacts = s.cache.Stats()
	return st
}

// loadOptions are the options every commit is loaded with.
func (s *Store) loadOptions(ctx context.Context) config.LoadOptions {
	return config.LoadOptions{Inspector: s.cache, GitHub: s.opts.GitHub, Ctx: ctx, Scans: s.scans, Trust: s.trust.Load()}
}

// SetTrust replaces the trust in signed firmware (keys reloaded on
// SIGHUP) and has the head loaded again if it was refused. The served
// snapshot stays until a commit loads with the new trust.
func (s *Store) SetTrust(t *config.Trust) {
	if t == nil {
		t = &config.Trust{}
	}
	s.trust.Store(t)
	s.recheck.Store(true)
	s.Trigger("signing keys reloaded")
}

// SetCommits replaces the keys that commits must be signed with (nil:
// none required), as SetTrust does for firmware.
func (s *Store) SetCommits(k *commitsig.Keyring) {
	s.commits.Store(k)
	s.recheck.Store(true)
	s.Trigger("commit keys reloaded")
}

// Cache returns the store's artifact cache.
func (s *Store) Cache() *artifact.Cache { return s.cache }

// Trigger asks for a sync as soon as possible and returns at once. Calls
// made while a sync is pending coalesce into that one sync; a call made
// during a sync causes one more after it, so nothing pushed is missed.
func (s *Store) Trigger(reason string) {
	select {
	case s.kick <- struct{}{}:
		s.log.Debug("sync requested", "reason", reason)
	default:
	}
}

// Run serves the last good commit from the local clone (if any), then
// syncs at start, on Trigger and every Poll, until ctx is done. It returns
// nil when ctx is done, and an error only when the data directory cannot
// be used at all. Run is called once.
func (s *Store) Run(ctx context.Context) error {
	close(s.started)
	defer close(s.stopped)
	repo, err := openRepo(filepath.Join(s.opts.DataDir, "repo.git"), s.opts.Remote)
	if err != nil {
		return err
	}
	s.repo = repo
	s.removeLeftovers()
	s.removeFetchLeftovers(true)
	s.restore()
	verifying := s.verifyArtifacts(ctx)
	defer verifying.Wait()

	var poll <-chan time.Time
	if s.opts.Poll > 0 {
		t := time.NewTicker(s.opts.Poll)
		defer t.Stop()
		poll = t.C
	}
	// retry brings the first snapshot faster than Poll when there is none:
	// a server that serves nothing should not wait a poll interval.
	retry := time.NewTimer(0)
	defer retry.Stop()
	backoff := time.Second
	for {
		select {
		case <-ctx.Done():
			return nil
		case job := <-s.work:
			job()
			continue
		case <-s.kick:
		case <-poll:
		case <-retry.C:
		case <-s.cache.Damaged():
			// A corrupt binary was removed from the cache: loading the
			// served commit again stores it again.
			s.repair = true
		}
		err := s.sync(ctx)
		if ctx.Err() != nil {
			return nil
		}
		// Storage faults are retried whatever is served: space freed or
		// a clone rebuilt must not wait for the next push or poll.
		if err != nil && (s.Current() == nil || isStorageFault(err)) {
			retry.Reset(backoff)
			backoff = min(backoff*2, 5*time.Minute)
		} else {
			backoff = time.Second
		}
	}
}

// verifyEvery is how often every cached binary is hashed again, and
// verifyRate how fast (bytes per second): a disk that rots a file is
// found, without starving downloads of disk.
const (
	verifyEvery = 6 * time.Hour
	verifyRate  = 32 << 20
)

// verifyArtifacts hashes the cached binaries at start and every
// verifyEvery, in a goroutine that ends with ctx; the caller waits for it
// with the WaitGroup returned. A corrupt one is removed, which Run sees
// on cache.Damaged.
func (s *Store) verifyArtifacts(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			start := time.Now()
			bad, err := s.cache.VerifyAll(ctx.Done(), verifyRate)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				s.log.Warn("artifact check incomplete", "err", err)
			case bad > 0:
				s.log.Error("corrupt artifacts removed, to be stored again", "files", bad, "took", time.Since(start))
			default:
				s.log.Debug("artifacts checked", "took", time.Since(start))
			}
			t.Reset(verifyEvery)
		}
	}()
	return &wg
}

// restore publishes the last good commit recorded in the state file, so a
// restart serves at once, even with the remote unreachable. When the
// local clone cannot give it, it is loaded from its saved copy, and the
// first sync clones again.
func (s *Store) restore() {
	err := s.restoreOnce(nil)
	if !errors.Is(err, ErrDamaged) {
		return
	}
	s.cloneDamaged = true
	s.log.Error("local clone damaged: serving the last good commit from its saved copy, cloning again", "err", err)
	s.restoreOnce(err)
}

// restoreOnce publishes the last good commit, read from the local clone
// as it is or, when damage is why the clone cannot give it, from its
// saved copy; it returns why that could not be read, if it could not.
func (s *Store) restoreOnce(damage error) error {
	st, err := s.readState()
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("cannot read state file", "err", err)
		}
		return nil
	}
	// What the last snapshots kept stays kept, even if the last good
	// commit no longer loads: the next publish collects with it.
	s.kept = st.Kept
	// Restoring must not wait long for GitHub: releases last seen and
	// their assets are on disk, and a GitHub failure only means they are
	// used until the first sync reads GitHub again.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hash := plumbing.NewHash(st.Commit)
	from := "local clone"
	var snap *Snapshot
	var probs config.Problems
	var rec *recorder
	var signer string
	if damage != nil {
		from = "saved copy"
		var sc *savedCopy
		var c *object.Commit
		if sc, c, err = s.readSaved(hash); err == nil {
			if signer, err = s.verified(c); err == nil {
				snap, probs, err = sc.load(c, s.cache, s.loadOptions(ctx))
			}
		}
	} else {
		var c *object.Commit
		if c, err = s.commit(hash); err == nil {
			if signer, err = s.verified(c); err == nil {
				snap, probs, rec, err = loadCommit(s.repo, hash, s.loadOptions(ctx), s.hist, true)
			}
		}
	}
	switch {
	case err != nil:
		s.log.Warn("cannot restore last good commit", "commit", short(st.Commit), "from", from, "err", err)
		return err
	case snap.Fleet == nil:
		s.log.Warn("last good commit no longer loads", "commit", short(st.Commit), "from", from, "err", probs.Err())
		return nil
	}
	snap.SignedBy = signer
	s.publish(snap, rec)
	releaseGarbage(snap)
	status := s.Status()
	status.serving(snap)
	status.GitHubError = snap.GitHubError
	if damage != nil {
		status.FromSavedCopy = damage.Error()
	}
	s.status.Store(&status)
	s.log.Info("serving last good commit from "+from, "commit", snap.ShortCommit())
	return nil
}

// verified returns who signed commit c, when Options.Commits asks for
// signed commits; a commit that may not be served is an error: keys may
// have changed since it was published.
func (s *Store) verified(c *object.Commit) (string, error) {
	signer, why, err := s.verifyCommit(c)
	if err == nil && why != "" {
		err = errors.New(why)
	}
	return signer, err
}

// sync fetches the branch and publishes its head if it is new and valid.
// A damaged local clone is cloned again, and the sync made once more.
func (s *Store) sync(ctx context.Context) error {
	if s.cloneDamaged {
		if err := s.repairClone(ctx); err != nil {
			return err
		}
	}
	err := s.syncOnce(ctx)
	if !errors.Is(err, ErrDamaged) || ctx.Err() != nil {
		return err
	}
	s.log.Error("local clone damaged: cloning again, serving the last good commit meanwhile", "err", err, "serving", short(s.Status().Commit))
	s.cloneDamaged = true
	if err := s.repairClone(ctx); err != nil {
		return err
	}
	return s.syncOnce(ctx)
}

// repairClone clones the damaged clone again and, when nothing is served,
// restores the last good commit from the new one. Failing, it is a
// storage fault: retried with backoff, whatever is served.
func (s *Store) repairClone(ctx context.Context) error {
	if err := s.reclone(ctx); err != nil {
		err = fmt.Errorf("%w: cloning again failed: %w", ErrDamaged, err)
		s.failed(err)
		return err
	}
	s.cloneDamaged = false
	switch st := s.Status(); {
	case s.Current() == nil:
		s.restoreOnce(nil)
	case st.FromSavedCopy != "":
		// The one loader gave from the saved copy what it gives from a
		// clone: what is served stays, and is not published again.
		st.FromSavedCopy = ""
		s.status.Store(&st)
	}
	return nil
}

// syncOnce is one sync with the clone as it is.
func (s *Store) syncOnce(ctx context.Context) error {
	start := time.Now()
	fctx, cancel := context.WithTimeout(ctx, s.opts.FetchTimeout)
	head, err := fetch(fctx, s.repo, s.opts.Remote)
	cancel()
	fetched := time.Now()
	if err != nil {
		s.removeFetchLeftovers(false)
		s.failed(err)
		return err
	}
	s.collectGit()
	cur := s.Current()
	if err := s.storeAgain(ctx, cur); err != nil {
		s.failed(err)
		return err
	}
	st := s.Status()
	recheck := s.recheck.Swap(false)
	switch {
	case cur != nil && cur.Commit == head.String() && !cur.UsesGitHub:
		st.clearRejection()
	case st.RejectedCommit == head.String() && !s.rejectedGitHub && !recheck:
		// Already checked and reported; nothing changed.
	default:
		signer, why, err := s.verify(head)
		if err != nil {
			s.failed(err)
			return err
		}
		if why != "" {
			st.RejectedCommit, st.RejectedReason, st.Problems, s.rejectedGitHub = head.String(), why, nil, false
			s.log.Error("commit rejected: serving the last good commit", "commit", short(head.String()), "reason", why, "serving", short(st.Commit))
			break
		}
		snap, probs, rec, err := loadCommit(s.repo, head, s.loadOptions(ctx), s.hist, true)
		if err != nil {
			s.failed(err)
			return err
		}
		snap.SignedBy = signer
		st.GitHubError = snap.GitHubError
		switch {
		case snap.Fleet == nil:
			errs := probs.Errors()
			st.RejectedCommit, st.Problems, s.rejectedGitHub = head.String(), errs, snap.UsesGitHub
			st.RejectedReason = fmt.Sprintf("%d config errors", len(errs))
			s.log.Error("commit rejected: serving the last good commit",
				"commit", short(head.String()), "errors", len(errs), "first", errs[0].String(),
				"serving", short(st.Commit))
			for _, p := range errs {
				s.log.Error("config error", "commit", short(head.String()), "problem", p.String())
			}
		case cur != nil && cur.Digest == snap.Digest:
			// Same commit, same GitHub releases: nothing to publish.
			st.clearRejection()
		default:
			if snap.GitHubError != "" {
				s.log.Warn("GitHub could not be read fully: serving without what is missing", "commit", snap.ShortCommit(), "err", snap.GitHubError)
			}
			s.publish(snap, rec)
			st.serving(snap)
			st.clearRejection()
			s.log.Info("synced", "commit", snap.ShortCommit(), "subject", snap.Subject,
				"platforms", len(snap.Fleet.Platforms()), "devices", len(snap.Fleet.Devices()),
				"warnings", len(snap.Warnings), "fetch", fetched.Sub(start), "load", time.Since(fetched),
				"took", time.Since(start))
			releaseGarbage(snap)
		}
	}
	st.SyncedAt = time.Now()
	st.SyncDuration = time.Since(start)
	st.Syncs++
	st.StorageError = ""
	switch {
	case st.RejectedCommit != "":
		st.LastError = fmt.Sprintf("commit %s rejected: %s", short(st.RejectedCommit), st.RejectedReason)
		st.LastErrorAt = st.SyncedAt
	case st.GitHubError != "":
		st.LastError = "degraded: " + st.GitHubError
		st.LastErrorAt = st.SyncedAt
	default:
		st.LastError, st.LastErrorAt = "", time.Time{}
	}
	s.status.Store(&st)
	return nil
}

// storeAgain, when the cache lost a corrupt binary (repair), loads the
// served commit cur again: what its snapshot serves is stored again,
// whether or not the head is cur (a rejected head is not loaded again).
func (s *Store) storeAgain(ctx context.Context, cur *Snapshot) error {
	if !s.repair {
		return nil
	}
	if cur != nil {
		if _, _, err := LoadCommit(s.repo, plumbing.NewHash(cur.Commit), s.loadOptions(ctx), s.hist); err != nil {
			return fmt.Errorf("storing the served binaries again: %w", err)
		}
	}
	s.repair = false
	return nil
}

func (s *Store) failed(err error) {
	st := s.Status()
	st.Syncs++
	st.LastError = err.Error()
	st.LastErrorAt = time.Now()
	st.StorageError = ""
	if isStorageFault(err) {
		st.StorageError = err.Error()
	}
	s.status.Store(&st)
	s.log.Error("sync failed", "err", err, "storage_fault", st.StorageError != "", "serving", short(st.Commit))
}

// publish makes snap the served snapshot, records it as the last good
// commit for restarts, with its saved copy made from rec (nil: snap was
// loaded from it), and collects the binaries that the snapshots kept no
// longer reference. The caller updates the status with serving.
func (s *Store) publish(snap *Snapshot, rec *recorder) {
	s.keep(snap)
	// Collected before snap is served, so that whoever sees snap sees the
	// cache collected for it. The snapshot served until now stays kept
	// (KeepSnapshots is at least 2): requests may still open its files.
	s.collect()
	snap.PublishedAt = time.Now()
	s.cur.Store(snap)
	if rec != nil {
		// Before the state file: a saved copy is used only for the commit
		// the state file names.
		if err := s.save(rec, snap); err != nil {
			s.log.Warn("cannot save a copy of the last good commit; a restart with the clone damaged will wait for the remote", "commit", snap.ShortCommit(), "err", err)
		}
	}
	if err := s.writeState(state{Commit: snap.Commit, Kept: s.kept}); err != nil {
		s.log.Warn("cannot write state file; a restart will wait for the remote", "err", err)
	}
	if s.opts.OnPublish != nil {
		s.opts.OnPublish(snap)
	}
}

// clearRejection records that the branch head is not rejected.
func (st *Status) clearRejection() {
	st.RejectedCommit, st.RejectedReason, st.Problems = "", "", nil
}

// serving records snap as the served snapshot in st.
func (st *Status) serving(snap *Snapshot) {
	st.Commit, st.Subject, st.Author, st.SignedBy = snap.Commit, snap.Subject, snap.Author, snap.SignedBy
	st.CommitTime, st.PublishedAt, st.Warnings = snap.CommitTime, snap.PublishedAt, snap.Warnings
	st.FromSavedCopy = ""
}

// bigFleet is the number of devices from which loading a config leaves
// enough garbage (parse trees) to be worth returning to the OS at once.
const bigFleet = 10000

// releaseGarbage returns the memory a large config's parse left behind to
// the OS right away: a server loads configs rarely, and an RSS that stays
// at the parse's peak until the background scavenger gets to it would
// look like a leak to whoever watches the process.
func releaseGarbage(snap *Snapshot) {
	if len(snap.Fleet.Devices()) >= bigFleet {
		debug.FreeOSMemory()
	}
}

// state is what survives a restart besides the clone and the cache.
type state struct {
	// Commit is the last good commit.
	Commit string `json:"commit"`
	// Kept are the binaries of the last snapshots published, oldest
	// first, which the cache keeps across the restart.
	Kept []keptSnapshot `json:"kept,omitempty"`
}

func (s *Store) statePath() string { return filepath.Join(s.opts.DataDir, "state.json") }

func (s *Store) readState() (state, error) {
	var st state
	raw, err := os.ReadFile(s.statePath())
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("%s: %w", s.statePath(), err)
	}
	if !plumbing.IsHash(st.Commit) {
		return st, fmt.Errorf("%s: bad commit %q", s.statePath(), st.Commit)
	}
	return st, nil
}

func (s *Store) writeState(st state) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return atomicfile.Write(s.statePath(), raw, 0o644)
}
