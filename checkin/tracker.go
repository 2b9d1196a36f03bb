package checkin

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otagit/otagit/rollout"
)

// TrackerOptions configures a Tracker.
type TrackerOptions struct {
	// Store persists check-ins, device summaries and halts. Required.
	Store Store
	// FailAfter is how many check-ins with the old version, after an
	// update was offered, make the offer a failure. Default 3: one failed
	// download is not yet a failed update.
	FailAfter int
	// HistoryEvery bounds how often a device's history gets a check-in
	// identical to its last stored one (same version, answer, headers and
	// address): every check-in updates the device's summary, but a device
	// polling every minute with nothing new would otherwise fill its
	// history with copies. Check-ins that got an image are always stored.
	// Default 10 minutes.
	HistoryEvery time.Duration
	// SummaryEvery is how often summaries whose only change is the time of
	// the last check-in are saved. Default 1 minute.
	SummaryEvery time.Duration
	// AttemptGap is how long after a device's counts last moved (its
	// offer, its last counted attempt) a check-in without the device's
	// own credential may move them again. Default DefaultAttemptGap;
	// negative: no gap.
	AttemptGap time.Duration
	// AddressMACs is how many distinct MACs one remote address may move
	// outcome counts for per AddressWindow with check-ins that lack the
	// device's own credential. Default DefaultAddressMACs; negative: no
	// limit.
	AddressMACs int
	// AddressWindow is the window of AddressMACs. Default
	// DefaultAddressWindow.
	AddressWindow time.Duration
	// Writer configures the batching writer.
	Writer WriterOptions
	// Journal, if set, is replayed into Store before the store is read
	// (by NewTracker, or by Run when Deferred), and receives every
	// check-in the writer acknowledges (WriterOptions.Journal), and those
	// held until a Deferred store is read: a check-in acknowledged before
	// the process died is in the Store before anything is read from it.
	Journal *Journal
	// Logger receives outcome and halt events. Default slog.Default().
	Logger *slog.Logger
	// Info describes the store, for StoreInfo.
	Info StoreInfo
	// HaltRefresh is how often halts and device summaries are read again
	// from a store shared with other replicas (a HaltWatcher, a
	// DeviceSharer), besides when it notifies a change: the fallback for
	// notifications lost. Default 5s.
	HaltRefresh time.Duration
	// Deferred makes NewTracker read nothing from Store, for a store
	// that may be unreachable at start (a shared database): Run reads it,
	// retrying with backoff until it can, before it saves anything. Until
	// then Observe keeps check-ins in memory, up to Writer.QueueSize
	// (beyond, they are dropped and counted in WriterStats), and
	// observes them in order once it has; and every release that can
	// auto-halt counts as halted, since it may be halted in the store.
	Deferred bool
}

// HaltWatcher is implemented by Stores shared by several replicas, whose
// halts others change: WatchHalts calls changed (from any goroutine, not
// concurrently) when halts may have changed, until ctx is done.
type HaltWatcher interface {
	WatchHalts(ctx context.Context, changed func()) error
}

// DeviceSharer is implemented by Stores shared by several replicas, whose
// device summaries others save: a device's pending offer and outcomes,
// and through them the stage counts, are then read back from the store
// whichever replica saw the check-in.
type DeviceSharer interface {
	// DeviceRev returns the revision of the newest summary saved.
	DeviceRev(ctx context.Context) (int64, error)
	// DevicesSince returns up to limit summaries saved after rev, oldest
	// save first, and the revision of the last one returned (rev if none).
	DevicesSince(ctx context.Context, rev int64, limit int) ([]Device, int64, error)
	// WatchDevices calls changed (from any goroutine, not concurrently)
	// when summaries may have been saved, until ctx is done.
	WatchDevices(ctx context.Context, changed func()) error
}

// HealthReporter is implemented by Stores that can be unreachable (a
// database over the network).
type HealthReporter interface {
	Health() Health
}

// Health says whether a store reaches its database.
type Health struct {
	// Reachable is whether the store's last call reached the database.
	Reachable bool
	// Since is when Reachable last changed.
	Since time.Time
	// LastError is the last failure to reach it, while it is not
	// reachable.
	LastError string
}

// StoreInfo describes a Tracker's store for operators (/api/status).
type StoreInfo struct {
	// Kind is "bbolt" or "postgres".
	Kind string `json:"kind"`
	// Loaded is whether the tracker has read the store's devices and
	// halts (TrackerOptions.Deferred).
	Loaded bool `json:"loaded"`
	// Reachable, for a store that can be unreachable (HealthReporter),
	// is whether it reached its database last; ReachableSince is when
	// that last changed, and LastError why it is not reachable.
	Reachable      *bool     `json:"reachable,omitempty"`
	ReachableSince time.Time `json:"reachable_since,omitzero"`
	LastError      string    `json:"last_error,omitempty"`
	// SetAside, when not empty, is where a damaged store file was moved
	// at SetAsideAt, for SetAsideReason; the store started empty.
	SetAside       string    `json:"set_aside,omitempty"`
	SetAsideAt     time.Time `json:"set_aside_at,omitzero"`
	SetAsideReason string    `json:"set_aside_reason,omitempty"`
}

// Tracker records device check-ins, infers update outcomes from them, and
// halts releases whose outcome counts rollout.HaltVerdict says halt them.
// Observe is called on the request path and does not wait for storage;
// everything else reads in-memory state. A Tracker is safe for concurrent
// use.
//
// Outcomes: after a device is offered release X, its next check-in with X
// (or with the sketch MD5 a device running X reports) is a success;
// FailAfter check-ins with the version it had when offered are a failure.
// A device that turns up with another version resolves nothing. Only
// sketch requests count: filesystem and version requests (x-*-mode:
// spiffs, version) ask nothing of the app, and a sketch that calls
// updateFS() before update() would otherwise fail every offer.
//
// A filesystem image sent in full is remembered in the device's summary
// (Device.Filesystem), saved with it, so that the device is not sent the
// same image on every poll, also across restarts.
type Tracker struct {
	opts   TrackerOptions
	log    *slog.Logger
	store  Store
	writer *Writer
	seed   maphash.Seed

	shards [64]shard
	index  macIndex // every MAC in shards

	adoption *adoption

	statsMu sync.Mutex // guards stats and limit
	stats   map[rollout.ReleaseID]*releaseStats
	limit   addressLimiter

	haltMu sync.Mutex                                 // serialises changes to halts
	halts  atomic.Pointer[map[rollout.ReleaseID]Halt] // never mutated after Store
	haltq  chan haltOp                                // to Run, which persists halts
	// haltGen counts changes made here (setHalt), so that a reload from a
	// shared store does not replace a change it may not hold yet.
	haltGen uint64 // guarded by haltMu
	// haltReload asks Run to read halts again from a shared store.
	haltReload chan struct{}
	// haltUnsaved holds the changes to halts taken from haltq that the
	// store failed to save, in order; haltFailing says the failure was
	// logged. Both are owned by Run.
	haltUnsaved []haltOp
	haltFailing bool
	// devReload asks Run to read summaries others saved (DeviceSharer);
	// devRev is the revision read up to, owned by Run.
	devReload chan struct{}
	devRev    int64

	// loaded is set once the store is read and the check-ins observed
	// before are (TrackerOptions.Deferred); haltsKnown once its halts
	// are in force, just before. Until loaded, Observe appends to
	// pending, at most pendMax of them, counting the rest in pendDropped.
	loaded      atomic.Bool
	haltsKnown  atomic.Bool
	pendMu      sync.Mutex
	pending     []observed
	pendMax     int
	pendDropped atomic.Uint64

	// fleet is the fleet served, from the last Reconcile: summaries
	// merged from other replicas are judged for a halt against it.
	fleet atomic.Pointer[rollout.Fleet]
}

// observed is a check-in observed before the store was read.
type observed struct {
	c   CheckIn
	dec rollout.Decision
}

type shard struct {
	mu   sync.Mutex // guards devs and the devState values
	devs map[rollout.MAC]*devState
}

// devState is a device's summary and what decides when to store it.
type devState struct {
	Device
	rowHash uint64    // of the last check-in stored in history
	rowAt   time.Time // when it was
	dirty   bool      // LastSeen changed since the summary was last queued
	// counted is when the device's counts last moved (its offer, a
	// counted attempt), for mayCount; zero after a restart.
	counted time.Time
}

// releaseStats counts, per stage, the devices offered a release and the
// latest outcome of each. A device counts in the stage it was first
// offered the release in.
type releaseStats struct {
	offered map[rollout.MAC]int          // device -> stage it was first offered in
	result  map[rollout.MAC]Result       // latest outcome since `since`
	counts  map[int]*rollout.StageCounts // kept in step with offered and result
	since   time.Time                    // outcomes before this were reset (resume, changed release)
	// fingerprint is the release configuration the counts are for, "" if
	// not known yet.
	fingerprint string
}

// reset starts the counts afresh from at.
func (rs *releaseStats) reset(at time.Time, fingerprint string) {
	rs.since, rs.fingerprint = at, fingerprint
	clear(rs.offered)
	clear(rs.result)
	clear(rs.counts)
}

// addOffer counts mac as offered in stage, once.
func (rs *releaseStats) addOffer(mac rollout.MAC, stage int) {
	if _, seen := rs.offered[mac]; seen {
		return
	}
	rs.offered[mac] = stage
	rs.bucket(stage).Offered++
}

// setResult records mac's latest outcome.
func (rs *releaseStats) setResult(mac rollout.MAC, res Result, at time.Time) {
	if at.Before(rs.since) {
		return
	}
	st := rs.bucket(rs.offered[mac])
	switch rs.result[mac] {
	case Success:
		st.Succeeded--
	case Failure:
		st.Failed--
	}
	rs.result[mac] = res
	if res == Success {
		st.Succeeded++
	} else {
		st.Failed++
	}
}

func (rs *releaseStats) bucket(stage int) *rollout.StageCounts {
	st, ok := rs.counts[stage]
	if !ok {
		st = &rollout.StageCounts{Stage: stage}
		rs.counts[stage] = st
	}
	return st
}

type haltOp struct {
	put    *Halt
	delete [2]string
}

// ErrNotHalted is returned by Resume for a release that is not halted.
var ErrNotHalted = errors.New("release is not halted")

// NewTracker loads the devices and halts of opts.Store. Run must then run
// for anything to be saved.
func NewTracker(ctx context.Context, opts TrackerOptions) (*Tracker, error) {
	if opts.Store == nil {
		return nil, errors.New("checkin: no store")
	}
	if opts.FailAfter <= 0 {
		opts.FailAfter = 3
	}
	if opts.HistoryEvery <= 0 {
		opts.HistoryEvery = 10 * time.Minute
	}
	if opts.SummaryEvery <= 0 {
		opts.SummaryEvery = time.Minute
	}
	if opts.AttemptGap == 0 {
		opts.AttemptGap = DefaultAttemptGap
	}
	if opts.AddressMACs == 0 {
		opts.AddressMACs = DefaultAddressMACs
	}
	if opts.AddressWindow <= 0 {
		opts.AddressWindow = DefaultAddressWindow
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HaltRefresh <= 0 {
		opts.HaltRefresh = 5 * time.Second
	}
	if opts.Writer.Logger == nil {
		opts.Writer.Logger = opts.Logger
	}
	opts.Writer.Journal = opts.Journal
	t := &Tracker{
		opts:   opts,
		log:    opts.Logger.With("component", "checkin"),
		store:  opts.Store,
		writer: NewWriter(opts.Store, opts.Writer),
		seed:   maphash.MakeSeed(),
		stats:  map[rollout.ReleaseID]*releaseStats{},
		haltq:  make(chan haltOp, 256),

		haltReload: make(chan struct{}, 1),
		devReload:  make(chan struct{}, 1),
		limit:      addressLimiter{max: opts.AddressMACs, window: opts.AddressWindow, hosts: map[string]*addressWindow{}},

		adoption: newAdoption(),
	}
	for i := range t.shards {
		t.shards[i].devs = map[rollout.MAC]*devState{}
	}
	t.halts.Store(&map[rollout.ReleaseID]Halt{})
	t.index.init(nil)
	wo := opts.Writer
	wo.setDefaults()
	t.pendMax = wo.QueueSize
	if !opts.Deferred {
		if err := t.load(ctx); err != nil {
			return nil, err
		}
		t.haltsKnown.Store(true)
		t.loaded.Store(true)
	}
	return t, nil
}

// load reads the store's halts, devices and adoption series, and puts
// them in force. It reads everything before it changes anything, so that
// a failed load can be tried again.
func (t *Tracker) load(ctx context.Context) error {
	store := t.store
	if j := t.opts.Journal; j != nil {
		// First: what the journal holds is then in what is read.
		if err := j.Replay(ctx, store); err != nil {
			return err
		}
	}
	halts, err := store.Halts(ctx)
	if err != nil {
		return fmt.Errorf("checkin: load halts: %w", err)
	}
	hm := map[rollout.ReleaseID]Halt{}
	for _, h := range halts {
		id := h.Release()
		if id.IsZero() {
			t.log.Warn("stored halt names no release: ignored", "platform", h.Platform, "version", h.Version)
			continue
		}
		if id.Platform != h.Platform || id.Version != h.Version {
			// Not stored under the release's identity (by hand, or by an
			// older version): store it so, or the old record would come
			// back at every start after the halt is lifted.
			if err := store.DeleteHalt(ctx, h.Platform, h.Version); err != nil {
				return fmt.Errorf("checkin: rewrite halt of %s: %w", id, err)
			}
			h.Platform, h.Version = id.Platform, id.Version
			if err := store.PutHalt(ctx, h); err != nil {
				return fmt.Errorf("checkin: rewrite halt of %s: %w", id, err)
			}
		}
		hm[id] = h
	}
	var rev int64
	if ds, ok := store.(DeviceSharer); ok {
		// Read before the devices: what is saved in between is read
		// again, which changes nothing (mergeDevice).
		if rev, err = ds.DeviceRev(ctx); err != nil {
			return fmt.Errorf("checkin: load devices: %w", err)
		}
	}
	devices, err := store.LoadDevices(ctx)
	if err != nil {
		return fmt.Errorf("checkin: load devices: %w", err)
	}
	var series map[string][]AdoptionSample
	if as, ok := store.(AdoptionStore); ok {
		if series, err = as.LoadAdoption(ctx); err != nil {
			return fmt.Errorf("checkin: load adoption series: %w", err)
		}
	}
	// Nothing is observed before the load is done, but pages may be read:
	// the shards are locked.
	t.halts.Store(&hm)
	t.devRev = rev
	macs := make([]rollout.MAC, 0, len(devices))
	for _, d := range devices {
		sh := t.shard(d.MAC)
		sh.mu.Lock()
		sh.devs[d.MAC] = &devState{Device: d}
		sh.mu.Unlock()
		t.countDevice(d)
		t.adoption.move(false, "", "", d.Platform, d.LastVersion)
		macs = append(macs, d.MAC)
	}
	slices.SortFunc(macs, compareMAC) // Stores return them sorted; this costs nothing then
	t.index.init(macs)
	t.adoption.load(series)
	return nil
}

// loadLater reads the store for a Deferred tracker, retrying with backoff
// (each attempt bounded) until it succeeds or ctx is done, and then
// observes what was observed meanwhile. It reports whether it loaded.
func (t *Tracker) loadLater(ctx context.Context) bool {
	backoff, attempts := 200*time.Millisecond, 0
	for {
		attempts++
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := t.load(lctx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		if attempts == 1 {
			// Once: the store logs its own outages, and retries follow.
			t.log.Warn("check-in store not read yet: devices are served, auto-halting releases held, check-ins kept in memory; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	t.haltsKnown.Store(true)
	held := 0
	for {
		t.pendMu.Lock()
		batch := t.pending
		t.pending = nil
		if len(batch) == 0 {
			t.loaded.Store(true)
			t.pendMu.Unlock()
			break
		}
		t.pendMu.Unlock()
		held += len(batch)
		for _, o := range batch {
			t.observe(o.c, o.dec)
		}
	}
	// Halts were not known when the snapshots were published.
	if f := t.fleet.Load(); f != nil {
		t.Reconcile(f)
	}
	if attempts > 1 {
		t.log.Info("check-in store read", "attempts", attempts, "check_ins_held", held, "dropped", t.pendDropped.Load())
	}
	return true
}

func (t *Tracker) shard(m rollout.MAC) *shard {
	return &t.shards[int(m[5]^m[4])%len(t.shards)]
}

// Run saves what Observe records, persists halts, and saves summaries
// whose only change is their last check-in time, until ctx is done; then
// it saves everything still pending and returns.
func (t *Tracker) Run(ctx context.Context) error {
	if !t.loaded.Load() && !t.loadLater(ctx) {
		t.pendMu.Lock()
		lost := len(t.pending)
		t.pendMu.Unlock()
		if lost > 0 {
			t.log.Error("stopped before the check-in store could be read; check-ins lost", "lost", lost)
			return fmt.Errorf("checkin: the store was never read: %d check-ins lost", lost)
		}
		return nil
	}
	werr := make(chan error, 1)
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	go func() { werr <- t.writer.Run(wctx) }()
	tick := time.NewTicker(t.opts.SummaryEvery)
	defer tick.Stop()
	hw, watching := t.store.(HaltWatcher)
	if watching {
		defer watch(ctx, func(ctx context.Context) error { return hw.WatchHalts(ctx, t.askReload) })()
	}
	ds, sharing := t.store.(DeviceSharer)
	if sharing {
		defer watch(ctx, func(ctx context.Context) error { return ds.WatchDevices(ctx, func() { poke(t.devReload) }) })()
	}
	var refresh <-chan time.Time // the fallback for notifications lost
	if watching || sharing {
		rt := time.NewTicker(t.opts.HaltRefresh)
		defer rt.Stop()
		refresh = rt.C
	}
	for {
		select {
		case <-t.haltReload:
			t.reloadHalts(ctx)
		case <-refresh:
			if watching {
				t.reloadHalts(ctx)
			}
			if sharing {
				t.reloadDevices(ctx, ds)
			}
		case <-t.devReload:
			t.reloadDevices(ctx, ds)
		case <-ctx.Done():
			t.flushSummaries()
			t.drainHalts(context.WithoutCancel(ctx))
			t.saveAdoption(ctx)
			stopWriter()
			return <-werr
		case op := <-t.haltq:
			t.haltUnsaved = append(t.haltUnsaved, op)
			t.saveHalts(ctx)
		case <-tick.C:
			t.flushSummaries()
			t.drainHalts(ctx) // and retry what failed
			t.saveAdoption(ctx)
		}
	}
}

// watch runs w in a goroutine of its own until ctx is done or stop is
// called; stop waits for it to return.
func watch(ctx context.Context, w func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w(ctx)
	}()
	return func() { cancel(); <-done }
}

// askReload asks Run to read halts again, without waiting.
func (t *Tracker) askReload() { poke(t.haltReload) }

// poke sends on c, a channel of capacity 1, without waiting.
func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default: // one is pending already
	}
}

// devicesPerRead bounds one read of DevicesSince.
const devicesPerRead = 10000

// reloadDevices reads the summaries saved since the last read, by any
// replica, and merges them (mergeDevice). A failed read is retried at
// the next notification or refresh.
func (t *Tracker) reloadDevices(ctx context.Context, ds DeviceSharer) {
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		devs, rev, err := ds.DevicesSince(rctx, t.devRev, devicesPerRead)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				t.log.Warn("cannot read device summaries from the shared store", "err", err)
			}
			return
		}
		t.devRev = rev
		for _, d := range devs {
			t.mergeDevice(d)
		}
		if len(devs) < devicesPerRead {
			return
		}
	}
}

// mergeDevice takes the summary r another replica saved when it is of a
// later check-in than the one held here: the device's offer, outcomes and
// version become r's, and r's offer and outcomes count in the stage
// counts as they did there. A summary of a check-in seen here (its own
// save, read back) changes nothing.
func (t *Tracker) mergeDevice(r Device) {
	sh := t.shard(r.MAC)
	sh.mu.Lock()
	d := sh.devs[r.MAC]
	had := d != nil
	if had && !r.LastSeen.After(d.LastSeen) {
		sh.mu.Unlock()
		return
	}
	if !had {
		d = &devState{}
		sh.devs[r.MAC] = d
		t.index.add(r.MAC)
		t.adoption.move(false, "", "", r.Platform, r.LastVersion)
	} else if d.Platform != r.Platform || d.LastVersion != r.LastVersion {
		t.adoption.move(true, d.Platform, d.LastVersion, r.Platform, r.LastVersion)
	}
	if countsMoved(&d.Device, &r) {
		// Its counts moved there, at r's check-in or before: the attempt
		// gap runs from then here too, so that N replicas do not take N
		// forged attempts per gap (mayCount).
		d.counted = r.LastSeen
	}
	failed := newFailures(&d.Device, &r)
	// Saved there; the history row hash stays ours.
	d.Device, d.dirty = r, false
	t.countDevice(r) // lock order: shard, stats
	sh.mu.Unlock()
	// A failure there counts here: judge it as a local one is judged,
	// against the fleet served, so that a threshold crossed by merged
	// failures halts at once.
	f := t.fleet.Load()
	for _, o := range failed {
		id := o.Release()
		t.statsMu.Lock()
		stage := t.releaseStats(id).offered[r.MAC]
		t.statsMu.Unlock()
		t.maybeHalt(f.Platform(id.Platform).ReleaseByID(id), stage, o.At)
	}
}

// countsMoved reports whether r, a later summary of d's device (zero if
// there was none), settled or advanced d's offer, or was offered another.
func countsMoved(d, r *Device) bool {
	if (d.Offer == nil) != (r.Offer == nil) || len(d.Outcomes) != len(r.Outcomes) {
		return true
	}
	if d.Offer != nil && (d.Offer.Release() != r.Offer.Release() || d.Offer.Attempts != r.Offer.Attempts) {
		return true
	}
	return len(d.Outcomes) > 0 && !d.Outcomes[0].At.Equal(r.Outcomes[0].At)
}

// newFailures returns the failures among r's outcomes that d, an earlier
// summary of the device (zero if there was none), does not have.
func newFailures(d, r *Device) []Outcome {
	var out []Outcome
	for _, o := range r.Outcomes {
		if o.Result != Failure {
			continue
		}
		known := false
		for _, p := range d.Outcomes {
			if p.Release() == o.Release() && p.At.Equal(o.At) {
				known = true
				break
			}
		}
		if !known {
			out = append(out, o)
		}
	}
	return out
}

// reloadHalts reads the halts of a shared store, which other replicas
// change, and puts them in force here. A halt or resume elsewhere resets
// the counts here as it did there. Changes made here that the store may
// not hold yet win: the read is retried after they are saved.
func (t *Tracker) reloadHalts(ctx context.Context) {
	if !t.drainHalts(ctx) {
		// What is decided here goes first; the next refresh tries again.
		return
	}
	t.haltMu.Lock()
	gen := t.haltGen
	t.haltMu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	halts, err := t.store.Halts(rctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			t.log.Warn("cannot read halts from the shared store; keeping those in force", "err", err)
		}
		return
	}
	next := make(map[rollout.ReleaseID]Halt, len(halts))
	for _, h := range halts {
		if id := h.Release(); !id.IsZero() {
			next[id] = h
		}
	}
	t.haltMu.Lock()
	if gen != t.haltGen || len(t.haltq) > 0 {
		t.haltMu.Unlock()
		t.askReload()
		return
	}
	old := *t.halts.Load()
	t.halts.Store(&next)
	t.haltMu.Unlock()
	for id, h := range next {
		if o, ok := old[id]; ok && o.Kind == h.Kind && o.At.Equal(h.At) {
			continue
		}
		switch h.Kind {
		case Stopped:
			t.log.Error("release halted by another replica", "release", id.String(), "reason", h.Reason)
		case CountsReset:
			// Lock order: stats after halts, which are released.
			t.statsMu.Lock()
			if rs := t.releaseStats(id); rs.since.Before(h.At) {
				rs.reset(h.At, h.Fingerprint)
			}
			t.statsMu.Unlock()
			if o, ok := old[id]; ok && o.Kind == Stopped {
				t.log.Warn("release resumed by another replica", "release", id.String(), "why", h.Reason)
			}
		}
	}
}

// drainHalts saves the changes to halts queued and those that failed
// before, and reports whether none is left unsaved.
func (t *Tracker) drainHalts(ctx context.Context) bool {
	for {
		select {
		case op := <-t.haltq:
			t.haltUnsaved = append(t.haltUnsaved, op)
		default:
			return t.saveHalts(ctx)
		}
	}
}

// saveHalts saves t.haltUnsaved in order, stopping at the first that
// fails: it stays, to be tried again (the summary tick, the next reload,
// the next change), so that a halt decided while the store is down is
// neither lost nor undone by a reload of the store's halts. It reports
// whether all were saved. Each attempt is bounded by 10s.
func (t *Tracker) saveHalts(ctx context.Context) bool {
	for len(t.haltUnsaved) > 0 {
		op := t.haltUnsaved[0]
		// A halt must be saved even when it races with shutdown.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		var err error
		if op.put != nil {
			err = t.store.PutHalt(sctx, *op.put)
		} else {
			err = t.store.DeleteHalt(sctx, op.delete[0], op.delete[1])
		}
		cancel()
		if errors.Is(err, ErrInvalidHalt) {
			t.log.Error("halt cannot be stored: dropped", "err", err)
		} else if err != nil {
			if !t.haltFailing {
				t.haltFailing = true
				t.log.Error("cannot save halt; kept and retried", "unsaved", len(t.haltUnsaved), "err", err)
			}
			return false
		}
		t.haltUnsaved = t.haltUnsaved[1:]
		if t.haltFailing && len(t.haltUnsaved) == 0 {
			t.haltFailing = false
			t.log.Info("halts saved again")
		}
	}
	return true
}

// flushSummaries queues the summaries that only have a newer LastSeen.
func (t *Tracker) flushSummaries() {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, d := range sh.devs {
			if d.dirty {
				d.dirty = false
				t.writer.Add(CheckIn{}, d.copy())
			}
		}
		sh.mu.Unlock()
	}
}

// Reconcile clears the halts of releases that f, the fleet now served,
// changed or no longer has: a commit that changes a release lifts its
// halt. The server calls it with every snapshot it publishes (Halted
// already ignores a halt whose release changed; Reconcile forgets it, so
// that Halts and a restart agree). A nil f does nothing.
func (t *Tracker) Reconcile(f *rollout.Fleet) {
	if f == nil {
		return
	}
	t.fleet.Store(f)
	for _, h := range t.Halts() {
		id := h.Release()
		if r := f.Platform(id.Platform).ReleaseByID(id); r == nil || r.Fingerprint != h.Fingerprint {
			t.setHalt(id, nil)
			t.log.Info("halt cleared: the release changed", "release", id.String())
		}
	}
}

// Observe records a check-in and the decision it got: it updates the
// device's summary, resolves its pending offer, counts outcomes toward
// auto-halt, and queues what must be saved. c.Reason may be empty: it is
// filled from dec only when the check-in is stored. HEAD requests, which
// download nothing, should not be observed.
func (t *Tracker) Observe(c CheckIn, dec rollout.Decision) {
	if !t.loaded.Load() && t.hold(c, dec) {
		return
	}
	t.observe(c, dec)
}

// hold keeps c for loadLater while the store is not read, and reports
// whether it did (false once the store is read).
func (t *Tracker) hold(c CheckIn, dec rollout.Decision) bool {
	t.pendMu.Lock()
	defer t.pendMu.Unlock()
	if t.loaded.Load() {
		return false
	}
	clipCheckIn(&c)
	if len(t.pending) >= t.pendMax || !t.writer.journalOnly(c) {
		t.pendDropped.Add(1)
	} else {
		t.pending = append(t.pending, observed{c, dec})
	}
	return true
}

// clipCheckIn bounds what a check-in's fields from device headers keep.
func clipCheckIn(c *CheckIn) {
	c.Version, c.SketchMD5, c.SDK, c.Platform, c.Mode, c.Client = clip(c.Version), clip(c.SketchMD5), clip(c.SDK), clip(c.Platform), clip(c.Mode), clip(c.Client)
}

func (t *Tracker) observe(c CheckIn, dec rollout.Decision) {
	// Headers come from devices: keep what is stored small.
	clipCheckIn(&c)
	t.adoption.tick(c.At)
	sh := t.shard(c.MAC)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	d := sh.devs[c.MAC]
	had := d != nil
	if d == nil {
		d = &devState{Device: Device{MAC: c.MAC, FirstSeen: c.At}}
		sh.devs[c.MAC] = d
		t.index.add(c.MAC)
	}
	changed := false
	sketch := c.Mode == "" || c.Mode == rollout.ModeSketch.String()
	// A check-in that reports no version (a download whose version was
	// reported by the request before it, a manifest fetched without one)
	// says nothing about what the device runs: it resolves no offer and
	// leaves the version and MD5 last reported.
	reports := c.Version != ""
	if sketch && reports && dec.Current != nil && d.Offer != nil {
		changed = t.resolve(d, c, &dec) || changed
	}
	if sketch && dec.Outcome == rollout.Update && c.Offered != "" {
		changed = t.offer(d, c, &dec) || changed
	}
	if c.Filesystem != "" && dec.Release != nil {
		d.Filesystem = &FilesystemSent{Platform: dec.Release.Platform, Version: dec.Release.Version.String(), SHA256: c.Filesystem, At: c.At}
		changed = true
	}
	version, md5 := c.Version, c.SketchMD5
	if !reports {
		version, md5 = d.LastVersion, d.LastMD5
	}
	if d.Platform != c.Platform || d.LastVersion != version || d.LastMD5 != md5 {
		if !had || d.Platform != c.Platform || d.LastVersion != version {
			t.adoption.move(had, d.Platform, d.LastVersion, c.Platform, version)
		}
		d.Platform, d.LastVersion, d.LastMD5 = c.Platform, version, md5
		changed = true
	}
	d.LastSeen = c.At

	// Downloads are always worth a line of history; repeated identical
	// polls are not.
	h := t.rowHash(&c)
	if c.Offered != "" || c.Filesystem != "" || h != d.rowHash || c.At.Sub(d.rowAt) >= t.opts.HistoryEvery {
		d.rowHash, d.rowAt = h, c.At
		if c.Reason == "" {
			c.Reason = dec.Reason()
		}
		d.dirty = false
		t.writer.Add(c, d.copy())
		return
	}
	if changed {
		d.dirty = false
		t.writer.Add(CheckIn{}, d.copy())
		return
	}
	d.dirty = true
}

// rowHash identifies what a check-in says, its time and the remote port
// aside: a device opens a new connection, from a new port, every poll.
func (t *Tracker) rowHash(c *CheckIn) uint64 {
	// One seeded hash of a comparable struct: the fields as a map key
	// would hash them, with no per-field writes into a maphash.Hash (it
	// runs on every poll).
	return maphash.Comparable(t.seed, rowKey{
		c.Platform, c.Version, c.SketchMD5, c.SDK, hostOf(c.Remote), c.Decision, c.Offered, c.Mode, c.Filesystem, c.Client,
		c.FreeSpace, c.ChipSize, c.Status,
	})
}

// rowKey is what rowHash hashes of a check-in.
type rowKey struct {
	platform, version, md5, sdk, host, decision, offered, mode, filesystem, client string
	free, chip                                                                     int64
	status                                                                         int
}

// mayCount applies the rule of the package function mayCount to c, a
// check-in of d with a pending offer that would move its counts; attempt
// is set for a failed attempt. The shard lock of d is held.
func (t *Tracker) mayCount(d *devState, c *CheckIn, attempt bool) bool {
	if !mayCount(c.Auth, attempt, d.counted, c.At, max(t.opts.AttemptGap, 0)) {
		return false
	}
	if c.Auth == AuthDevice {
		return true
	}
	t.statsMu.Lock() // lock order: shard, stats
	defer t.statsMu.Unlock()
	return t.limit.allow(c.Remote, d.MAC, c.At)
}

// resolve settles d's pending offer from the version it reports now.
func (t *Tracker) resolve(d *devState, c CheckIn, dec *rollout.Decision) bool {
	o := d.Offer
	offered := o.Release()
	cur := rollout.IDOf(offered.Platform, dec.Current)
	success := cur == offered || (c.SketchMD5 != "" && strings.EqualFold(c.SketchMD5, o.MD5))
	attempt := !success && cur == releaseOf(offered.Platform, o.FromVersion)
	if !t.mayCount(d, &c, attempt) {
		return false // the offer stays pending: a later check-in settles it
	}
	d.counted = c.At
	switch {
	case success:
		t.outcome(d, o, Success, c.At, dec)
		return true
	case attempt:
		o.Attempts++
		if o.Attempts >= t.opts.FailAfter {
			t.outcome(d, o, Failure, c.At, dec)
		}
		return true
	default:
		// Flashed with something else: the offer tells nothing.
		d.Offer = nil
		return true
	}
}

// offer records that d was offered dec.Release.
func (t *Tracker) offer(d *devState, c CheckIn, dec *rollout.Decision) bool {
	r := dec.Release
	id := r.ID()
	if d.Offer != nil && d.Offer.Release() == id {
		return false // the same offer, again
	}
	d.counted = c.At
	stage := max(dec.Stage, -1)
	d.Offer = &Offer{Platform: id.Platform, Version: id.Version, MD5: r.Artifact.SketchMD5(),
		FromVersion: dec.Current.String(), Stage: stage, At: c.At}
	t.statsMu.Lock()
	rs := t.releaseStats(id)
	t.follow(rs, r, c.At)
	rs.addOffer(d.MAC, stage)
	t.statsMu.Unlock()
	return true
}

// follow keeps rs counting for r's configuration: a commit that changes
// the release (its binary, stages, threshold...) starts its counts
// afresh, so the failures of the old one cannot halt the new one. The
// reset is recorded like a resume, so that a restart does not count the
// old outcomes again. t.statsMu must be held.
func (t *Tracker) follow(rs *releaseStats, r *rollout.Release, at time.Time) {
	switch rs.fingerprint {
	case r.Fingerprint:
	case "":
		rs.fingerprint = r.Fingerprint
	default:
		rs.reset(at, r.Fingerprint)
		id := r.ID()
		h := &Halt{Platform: id.Platform, Version: id.Version, Fingerprint: r.Fingerprint,
			Kind: CountsReset, Reason: "release changed in a commit", At: at}
		t.setHalt(id, h) // lock order: shard, stats, halts
		t.log.Info("release changed: outcome counts start again", "release", id.String())
	}
}

// outcome records the result of d's pending offer and checks for a halt.
// dec is the decision of the check-in that settled it.
func (t *Tracker) outcome(d *devState, o *Offer, res Result, at time.Time, dec *rollout.Decision) {
	out := Outcome{Platform: o.Platform, Version: o.Version, FromVersion: o.FromVersion, Stage: o.Stage, Result: res, At: at}
	d.Outcomes = append([]Outcome{out}, d.Outcomes...)
	if len(d.Outcomes) > MaxOutcomes {
		d.Outcomes = d.Outcomes[:MaxOutcomes]
	}
	d.Offer = nil
	id := o.Release()
	t.statsMu.Lock()
	rs := t.releaseStats(id)
	rs.addOffer(d.MAC, o.Stage)
	rs.setResult(d.MAC, res, at)
	stage := rs.offered[d.MAC]
	t.statsMu.Unlock()
	t.log.Info("update outcome", "mac", d.MAC.String(), "release", id.String(), "from", o.FromVersion,
		"result", res.String(), "stage", o.Stage, "attempts", o.Attempts)
	if res == Failure {
		// The release as the snapshot dec was made from has it, so that
		// the halt and the decision see one config. A device whose
		// platform changed since the offer is decided for another
		// platform: its failure counts, and the next outcome decided on
		// the release's platform checks for a halt.
		t.maybeHalt(dec.Platform.ReleaseByID(id), stage, at)
	}
}

// maybeHalt halts r, if not halted yet, when rollout.HaltVerdict says the
// counts of its stage halt it. r nil does nothing.
func (t *Tracker) maybeHalt(r *rollout.Release, stage int, at time.Time) {
	// A release that never halts is not followed here: its offers do that.
	if r == nil || !r.AutoHalts() || t.Halted(r) {
		return
	}
	id := r.ID()
	// Count for the release as it is in this snapshot: a changed release
	// starts afresh.
	t.statsMu.Lock()
	rs := t.releaseStats(id)
	t.follow(rs, r, at)
	st := rollout.StageCounts{Stage: stage}
	if cur, ok := rs.counts[stage]; ok {
		st = *cur
	}
	t.statsMu.Unlock()
	halt, reason := rollout.HaltVerdict(r, st)
	if !halt {
		return
	}
	h := Halt{Platform: id.Platform, Version: id.Version, Fingerprint: r.Fingerprint, Stage: st.Stage,
		Failed: st.Failed, Total: st.Decided(), Reason: reason, At: at}
	t.setHalt(id, &h)
	t.log.Error("release halted", "release", id.String(), "reason", h.Reason)
}

// setHalt stores (h non-nil) or removes a halt record, in memory at once
// and on disk through Run.
func (t *Tracker) setHalt(id rollout.ReleaseID, h *Halt) {
	t.haltMu.Lock()
	old := *t.halts.Load()
	next := make(map[rollout.ReleaseID]Halt, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	op := haltOp{delete: [2]string{id.Platform, id.Version}}
	if h != nil {
		next[id] = *h
		op = haltOp{put: h}
	} else {
		delete(next, id)
	}
	t.halts.Store(&next)
	t.haltGen++
	// Queued under the lock, so that disk sees changes in memory's order.
	select {
	case t.haltq <- op:
	default:
		t.log.Error("halt queue full: halt not saved", "release", id.String())
	}
	t.haltMu.Unlock()
}

// Halted implements rollout.Halts: r is halted when a halt for it was
// recorded with r's current fingerprint.
func (t *Tracker) Halted(r *rollout.Release) bool {
	if !t.haltsKnown.Load() {
		return r.AutoHalts() // it may be halted in the store
	}
	hm := *t.halts.Load()
	if len(hm) == 0 {
		return false
	}
	h, ok := hm[r.ID()]
	return ok && h.Kind == Stopped && h.Fingerprint == r.Fingerprint
}

// Halts returns the releases halted now, by release ID.
func (t *Tracker) Halts() []Halt {
	var out []Halt
	for _, h := range *t.halts.Load() {
		if h.Kind == Stopped {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b Halt) int {
		if c := strings.Compare(a.Platform, b.Platform); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return out
}

// Resume lifts the halt of a release, as an operator's call. Its outcome
// counts start again from now, so it is not halted again by the failures
// that halted it.
func (t *Tracker) Resume(id rollout.ReleaseID, now time.Time) error {
	h, ok := (*t.halts.Load())[id]
	if !ok || h.Kind != Stopped {
		return fmt.Errorf("%s: %w", id, ErrNotHalted)
	}
	t.statsMu.Lock()
	t.releaseStats(id).reset(now, h.Fingerprint)
	t.statsMu.Unlock()
	t.setHalt(id, &Halt{Platform: id.Platform, Version: id.Version, Fingerprint: h.Fingerprint,
		Kind: CountsReset, Reason: "resumed by an operator", At: now})
	t.log.Warn("release resumed by an operator", "release", id.String(), "was", h.Reason)
	return nil
}

// Device returns the summary of a device, false if it never checked in.
func (t *Tracker) Device(mac rollout.MAC) (Device, bool) {
	sh := t.shard(mac)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	d, ok := sh.devs[mac]
	if !ok {
		return Device{}, false
	}
	return d.copy(), true
}

// FilesystemSent returns the last filesystem image sent in full to the
// device with mac, false if none.
func (t *Tracker) FilesystemSent(mac rollout.MAC) (FilesystemSent, bool) {
	sh := t.shard(mac)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	d, ok := sh.devs[mac]
	if !ok || d.Filesystem == nil {
		return FilesystemSent{}, false
	}
	return *d.Filesystem, true
}

// Reported returns the version a device last reported, for plans.
func (t *Tracker) Reported(mac rollout.MAC) (string, bool) {
	d, ok := t.Device(mac)
	return d.LastVersion, ok
}

// Devices returns the summaries matching f, sorted by MAC.
func (t *Tracker) Devices(f Filter) []Device {
	var out []Device
	m := f.Matcher()
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, d := range sh.devs {
			if m.Match(&d.Device) {
				out = append(out, d.copy())
			}
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Device) int { return strings.Compare(a.MAC.String(), b.MAC.String()) })
	return out
}

// History returns a device's stored check-ins, newest first. Check-ins
// still queued (at most a few hundred milliseconds old) are not included.
func (t *Tracker) History(ctx context.Context, mac rollout.MAC, limit int) ([]CheckIn, error) {
	return t.store.History(ctx, mac, limit)
}

// ReleaseStats returns the counts of a release per stage, in stage order.
func (t *Tracker) ReleaseStats(id rollout.ReleaseID) []rollout.StageCounts {
	t.statsMu.Lock()
	defer t.statsMu.Unlock()
	rs, ok := t.stats[id]
	if !ok {
		return nil
	}
	var out []rollout.StageCounts
	for _, st := range rs.counts {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b rollout.StageCounts) int { return a.Stage - b.Stage })
	return out
}

// StoreInfo describes the store, as TrackerOptions.Info gave it, with
// whether it was read and, if it can be unreachable, whether it is.
func (t *Tracker) StoreInfo() StoreInfo {
	info := t.opts.Info
	info.Loaded = t.loaded.Load()
	if hr, ok := t.store.(HealthReporter); ok {
		h := hr.Health()
		info.Reachable, info.ReachableSince, info.LastError = &h.Reachable, h.Since, h.LastError
	}
	return info
}

// WriterStats reports the batching writer's counters; check-ins held
// until the store is read (TrackerOptions.Deferred) count as queued, or
// dropped.
func (t *Tracker) WriterStats() WriterStats {
	ws := t.writer.Stats()
	t.pendMu.Lock()
	ws.Queued += len(t.pending)
	t.pendMu.Unlock()
	ws.Dropped += t.pendDropped.Load()
	return ws
}

// releaseStats returns the stats of release id, creating them. t.statsMu
// must be held.
func (t *Tracker) releaseStats(id rollout.ReleaseID) *releaseStats {
	rs, ok := t.stats[id]
	if !ok {
		rs = &releaseStats{offered: map[rollout.MAC]int{}, result: map[rollout.MAC]Result{}, counts: map[int]*rollout.StageCounts{}}
		if h, ok := (*t.halts.Load())[id]; ok {
			rs.fingerprint = h.Fingerprint
			if h.Kind == CountsReset {
				rs.since = h.At
			}
		}
		t.stats[id] = rs
	}
	return rs
}

// countDevice adds a loaded device's offers and outcomes to the stats.
func (t *Tracker) countDevice(d Device) {
	t.statsMu.Lock()
	defer t.statsMu.Unlock()
	// Oldest first, so the latest outcome per release wins.
	for i := len(d.Outcomes) - 1; i >= 0; i-- {
		o := d.Outcomes[i]
		if id := o.Release(); !id.IsZero() {
			rs := t.releaseStats(id)
			rs.addOffer(d.MAC, o.Stage)
			rs.setResult(d.MAC, o.Result, o.At)
		}
	}
	if o := d.Offer; o != nil {
		if id := o.Release(); !id.IsZero() {
			t.releaseStats(id).addOffer(d.MAC, o.Stage)
		}
	}
}

// copy returns the summary with nothing shared that Observe mutates.
func (d *devState) copy() Device {
	c := d.Device
	if c.Offer != nil {
		o := *c.Offer
		c.Offer = &o
	}
	if c.Filesystem != nil {
		fs := *c.Filesystem
		c.Filesystem = &fs
	}
	// Outcomes are replaced, never changed in place, so sharing is safe.
	return c
}

// maxField bounds the strings a check-in stores from a device's headers.
const maxField = 64

func clip(s string) string {
	if len(s) > maxField {
		return s[:maxField]
	}
	return s
}

// sameVersion reports whether a and b, versions devices report, are the
// same version, build metadata aside; versions that cannot be read match
// only themselves.
func sameVersion(a, b string) bool {
	va, erra := rollout.ParseDeviceVersion(a)
	vb, errb := rollout.ParseDeviceVersion(b)
	if erra != nil || errb != nil {
		return a == b
	}
	return rollout.VersionKey(va) == rollout.VersionKey(vb)
}
