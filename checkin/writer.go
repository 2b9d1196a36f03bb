package checkin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otagit/otagit/internal/clock"
	"github.com/otagit/otagit/rollout"
)

// WriterOptions configure NewWriter. The zero value gives the defaults.
type WriterOptions struct {
	// QueueSize bounds the check-ins accepted and not yet saved; Add drops
	// what does not fit. Default 65536.
	QueueSize int
	// MaxBatch is the most check-ins saved in one Store.Save. Default 1024.
	MaxBatch int
	// FlushEvery is the longest a check-in waits in the queue before a
	// save starts, when fewer than MaxBatch are queued. Default 200ms.
	FlushEvery time.Duration
	// SaveTimeout bounds one Store.Save call. Default 10s.
	SaveTimeout time.Duration
	// RetryMin and RetryMax bound the wait between attempts to save a
	// batch that failed; the wait doubles from one to the other. Defaults
	// 100ms and 5s.
	RetryMin, RetryMax time.Duration
	// DrainTimeout bounds how long Run, once its context is done, keeps
	// retrying a failing store before it gives up on the records it holds.
	// A store that works is drained however long that takes. Default 30s.
	DrainTimeout time.Duration
	// Logger receives save failures, recoveries and drops. Default
	// slog.Default().
	Logger *slog.Logger
	// Clock times the waits between attempts and the drain deadline, and
	// the times in WriterStats. Default the system clock; tests pass a
	// clock.Fake.
	Clock clock.Clock
	// Journal, if set, receives every record Add accepts before Add
	// returns, and Run moves its watermark past what the Store has
	// committed and writes it to disk every FlushEvery: a check-in Add
	// acknowledged survives the death of the process. Replay must have
	// run. A check-in the journal has no room for is dropped.
	Journal *Journal
}

func (o *WriterOptions) setDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 65536
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	def(&o.FlushEvery, 200*time.Millisecond)
	def(&o.SaveTimeout, 10*time.Second)
	def(&o.RetryMin, 100*time.Millisecond)
	def(&o.RetryMax, 5*time.Second)
	def(&o.DrainTimeout, 30*time.Second)
	o.RetryMax = max(o.RetryMax, o.RetryMin)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Clock = clock.Or(o.Clock)
}

// WriterStats is a snapshot of a Writer's counters.
type WriterStats struct {
	// Queued counts check-ins accepted and not yet saved (nor lost).
	Queued int
	// Saved counts check-ins saved.
	Saved uint64
	// Dropped counts Add calls that returned false.
	Dropped uint64
	// JournalFull counts the drops (in Dropped) for want of room in the
	// journal, which holds what the store has not yet committed.
	JournalFull uint64
	// Lost counts acknowledged check-ins that Run gave up on at shutdown
	// because the store kept failing.
	Lost uint64
	// Batches and Failures count Store.Save calls that succeeded and that
	// failed.
	Batches, Failures uint64
	// LastError is the error of the last failed Save while saving fails;
	// a successful Save clears it. LastErrorAt is when it happened and is
	// kept after recovery.
	LastError   error
	LastErrorAt time.Time
	// LastSave is how long the last successful Save took; LastSaveAt is
	// when it ended.
	LastSave   time.Duration
	LastSaveAt time.Time
}

// Writer saves check-ins to a Store in batches, from one goroutine (Run),
// so that the request path only queues them: an Add costs a lock and a copy
// of the record, tens of nanoseconds; with a Journal also the record's
// encoding and its copy into the mapped ring, about a microsecond
// (BenchmarkWriterAddJournal), and still no syscall. Add, Stats and Run are safe for
// concurrent use; Run may be called only once. The zero Writer is not
// usable: make one with NewWriter.
type Writer struct {
	store   Store
	opts    WriterOptions
	log     *slog.Logger
	wake    chan struct{} // signalled when a full batch is queued
	running atomic.Bool

	// mu guards the fields below. The queue is a list of chunks of
	// MaxBatch records: Add appends to the current chunk, Run takes the
	// full ones (and, when its timer fires, the current one) and hands
	// each to Store.Save as it is, then recycles it. Appending to a chunk
	// allocated once never copies or reallocates, which is what makes Add
	// cheap (one growing slice, swapped by Run, cost microseconds per Add
	// in copying and GC); one mutex lets Add and shutdown agree on what was
	// acknowledged. A buffered channel measured slower for accepted Adds
	// and much slower to drain (BenchmarkWriterQueue), and would hold
	// QueueSize records (~20 MB) allocated up front.
	mu      sync.Mutex
	cur     *chunk   // being filled; nil when none is
	full    []*chunk // filled, oldest first
	free    []*chunk // emptied by Run, for reuse; at most maxFreeChunks
	pending int      // records in cur and full
	held    int      // records taken by Run, not yet saved or lost
	closed  bool     // set when Run drains; Add refuses from then on
	// summaries holds the device summaries queued alone (no check-in),
	// latest per MAC: a newer one replaces the queued one, so they are
	// bounded by the fleet, never count against QueueSize and are never
	// dropped. A periodic re-save of every summary (Tracker's
	// SummaryEvery) once overflowed the queue and dropped check-ins.
	summaries map[rollout.MAC]Device
	stats     WriterStats

	// Owned by the Run goroutine.
	taken       []*chunk            // flush's scratch
	index       map[rollout.MAC]int // coalesce's scratch
	coalesced   []Device
	drainBy     time.Time // give up retrying after this, once ctx is done
	loggedDrops uint64
}

// chunk is up to MaxBatch queued records, saved in one Store.Save.
type chunk struct {
	checkins []CheckIn
	devices  []Device // devices[i] came with checkins[i]
	first    uint64   // the journal seq of checkins[0]; 0 without a journal
}

// journalBufs holds the buffers Add encodes journal records into.
var journalBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxFreeChunks bounds the chunks kept for reuse, so that memory taken by
// a burst (up to QueueSize records, ~20 MB at the defaults) is given back.
const maxFreeChunks = 4

// NewWriter returns a Writer that saves to s once Run is running. Records
// added before Run starts wait in the queue.
func NewWriter(s Store, opts WriterOptions) *Writer {
	opts.setDefaults()
	return &Writer{
		store: s,
		opts:  opts,
		log:   opts.Logger.With("component", "checkin"),
		wake:  make(chan struct{}, 1),
		index: make(map[rollout.MAC]int),

		summaries: make(map[rollout.MAC]Device),
	}
}

// Add queues a check-in and the device's new summary without blocking;
// pass the zero Device to save the check-in alone, or a CheckIn with a
// zero At to save the summary alone. It returns false, and
// counts a drop, when the queue is full or Run has begun to shut down. A
// true return is an acknowledgement: the record will be saved unless the
// process dies or the store fails for longer than DrainTimeout at shutdown.
// Records are saved in the order they were added.
func (w *Writer) Add(c CheckIn, d Device) bool {
	var body *[]byte
	if w.opts.Journal != nil && (!c.At.IsZero() || !d.isZero()) {
		// Encoded outside the lock; only the copy into the ring is under it.
		body = journalBufs.Get().(*[]byte)
		*body = appendJournalBody((*body)[:0], &c, &d)
		defer journalBufs.Put(body)
	}
	w.mu.Lock()
	if c.At.IsZero() && !d.isZero() {
		return w.addSummary(d, body)
	}
	if w.closed || w.pending+w.held >= w.opts.QueueSize {
		w.stats.Dropped++
		w.mu.Unlock()
		return false
	}
	var first uint64 // the record's seq in the journal
	if body != nil {
		first = w.opts.Journal.next.Load()
		if _, ok := w.opts.Journal.append(*body); !ok {
			w.stats.Dropped++
			w.stats.JournalFull++
			w.mu.Unlock()
			return false
		}
	}
	if w.cur == nil {
		w.cur = w.newChunk()
		w.cur.first = first
	}
	if !d.isZero() {
		// This summary is newer than one queued alone, which would
		// otherwise be saved after it.
		delete(w.summaries, d.MAC)
	}
	w.cur.checkins = append(w.cur.checkins, c)
	w.cur.devices = append(w.cur.devices, d)
	w.pending++
	filled := len(w.cur.checkins) == w.opts.MaxBatch
	if filled {
		w.full = append(w.full, w.cur)
		w.cur = nil
	}
	w.mu.Unlock()
	if filled {
		select {
		case w.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return true
}

// journalOnly writes c alone to the journal, without queueing it: a
// check-in the tracker holds until its store is read (Deferred), queued
// later through Add with its summary (a replay saves the check-in once).
// It reports false, counting a drop, when the journal has no room; true
// without a journal.
func (w *Writer) journalOnly(c CheckIn) bool {
	if w.opts.Journal == nil {
		return true
	}
	body := journalBufs.Get().(*[]byte)
	defer journalBufs.Put(body)
	*body = appendJournalBody((*body)[:0], &c, &Device{})
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.opts.Journal.append(*body); !ok {
		w.stats.Dropped++
		w.stats.JournalFull++
		return false
	}
	return true
}

// addSummary queues d, replacing any summary of d.MAC queued alone; it
// refuses only once Run has begun to shut down. With a journal it writes
// body there while the journal is less than half full: a summary is never
// dropped, so one without room is saved as before, only not across the
// death of the process; and the summaries saved every SummaryEvery (as
// many as the fleet) must not take the room check-ins need. w.mu must be
// held; it unlocks it.
func (w *Writer) addSummary(d Device, body *[]byte) bool {
	if w.closed {
		w.stats.Dropped++
		w.mu.Unlock()
		return false
	}
	if j := w.opts.Journal; body != nil && j.Stats().Used < j.slots/2 {
		j.append(*body)
	}
	w.summaries[d.MAC] = d
	filled := len(w.summaries) == w.opts.MaxBatch
	w.mu.Unlock()
	if filled {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// newChunk returns an empty chunk, reused if one is free. w.mu must be
// held.
func (w *Writer) newChunk() *chunk {
	if n := len(w.free); n > 0 {
		c := w.free[n-1]
		w.free = w.free[:n-1]
		return c
	}
	return &chunk{
		checkins: make([]CheckIn, 0, w.opts.MaxBatch),
		devices:  make([]Device, 0, w.opts.MaxBatch),
	}
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Queued = w.pending + w.held + len(w.summaries)
	return s
}

// Run saves queued check-ins until ctx is done, then stops accepting new
// ones, saves everything acknowledged and returns nil. Saves that fail are
// retried with backoff; after ctx is done they are retried for at most
// DrainTimeout, and if the store still fails Run returns an error saying
// how many acknowledged check-ins were lost. Run may be called only once.
func (w *Writer) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("checkin: Writer.Run called twice")
	}
	tick := time.NewTicker(w.opts.FlushEvery)
	defer tick.Stop()
	if w.opts.Journal != nil {
		// Its own goroutine: a save being retried while the store is down
		// holds up this loop, not what a power loss can take.
		stop := make(chan struct{})
		synced := make(chan struct{})
		go func() {
			defer close(synced)
			w.syncJournalEvery(stop)
		}()
		defer func() { close(stop); <-synced }()
	}
	var err error
	partial := false
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			w.logDrops()
			partial = true
		case <-w.wake:
		}
		more := true
		for more && err == nil {
			more, err = w.flush(ctx, partial, false)
			partial = false
		}
		if err != nil {
			break // only once ctx is done: saves are never given up before
		}
	}
	if _, derr := w.flush(ctx, true, true); err == nil {
		err = derr
	}
	w.logDrops()
	st := w.Stats()
	if err != nil && w.opts.Journal != nil {
		w.log.Error("check-in writer stopped; acknowledged check-ins left in the journal, saved at the next start", "unsaved", st.Lost, "saved", st.Saved, "err", err)
		return fmt.Errorf("checkin: gave up saving %d acknowledged check-ins (left in the journal): %w", st.Lost, err)
	}
	if err != nil {
		w.log.Error("check-in writer stopped; acknowledged check-ins lost", "lost", st.Lost, "saved", st.Saved, "err", err)
		return fmt.Errorf("checkin: gave up saving %d acknowledged check-ins: %w", st.Lost, err)
	}
	w.log.Info("check-in writer stopped", "saved", st.Saved, "dropped", st.Dropped)
	return nil
}

// flush takes the full chunks, and with partial the one being filled too,
// and saves them. With final it also closes the queue, so that nothing can
// be acknowledged after this last take. It reports whether a full chunk is
// already waiting again, and returns an error only when it gave up, having
// counted as lost every record it held.
func (w *Writer) flush(ctx context.Context, partial, final bool) (more bool, err error) {
	w.mu.Lock()
	w.closed = w.closed || final
	taken := append(w.taken[:0], w.full...)
	clear(w.full)
	w.full = w.full[:0]
	if (partial || final) && w.cur != nil {
		taken = append(taken, w.cur)
		w.cur = nil
	}
	n := 0
	for _, c := range taken {
		n += len(c.checkins)
	}
	w.pending -= n
	w.held += n
	// Summaries queued alone are newer than any of their MAC in the
	// chunks taken (Add removes the older one), so they are saved after.
	var sums []Device
	if partial || final || len(w.summaries) >= w.opts.MaxBatch {
		sums = make([]Device, 0, len(w.summaries))
		for _, d := range w.summaries {
			sums = append(sums, d)
		}
		clear(w.summaries)
		w.held += len(sums)
	}
	// What was journaled before the first record still queued is in what
	// is taken: saved, it moves the journal's watermark there. (Summaries
	// queued alone are not in order: while one is, nothing moves until
	// the next tick's flush takes them all.)
	var mark uint64
	if w.opts.Journal != nil && len(w.summaries) == 0 {
		mark = w.opts.Journal.next.Load()
		if w.cur != nil {
			mark = w.cur.first
		}
	}
	w.mu.Unlock()

	for i, c := range taken {
		if err == nil {
			err = w.save(ctx, c.checkins, c.devices)
		}
		// Drop the records' strings before the chunk is reused.
		k := len(c.checkins)
		clear(c.checkins)
		clear(c.devices)
		c.checkins, c.devices = c.checkins[:0], c.devices[:0]
		w.mu.Lock()
		w.held -= k
		if err != nil {
			w.stats.Lost += uint64(k)
		} else {
			w.stats.Saved += uint64(k)
		}
		if len(w.free) < maxFreeChunks {
			w.free = append(w.free, c)
		}
		w.mu.Unlock()
		taken[i] = nil
	}
	w.taken = taken[:0]

	for len(sums) > 0 {
		k := min(len(sums), w.opts.MaxBatch)
		if err == nil {
			err = w.save(ctx, nil, sums[:k])
		}
		w.mu.Lock()
		w.held -= k
		if err != nil {
			w.stats.Lost += uint64(k)
		} else {
			w.stats.Saved += uint64(k)
		}
		w.mu.Unlock()
		sums = sums[k:]
	}

	if err == nil && mark != 0 {
		w.opts.Journal.markSaved(mark)
	}
	w.mu.Lock()
	more = len(w.full) > 0
	w.mu.Unlock()
	return more, err
}

// save saves one batch, retrying with backoff until it succeeds, or, once
// ctx is done, until DrainTimeout has passed; then it returns the last
// error. Saves run under their own timeout and not under ctx, whose end
// means "stop accepting", not "abandon what was accepted".
func (w *Writer) save(ctx context.Context, cs []CheckIn, ds []Device) error {
	devices := w.coalesce(ds)
	cs = withTime(cs)
	defer clear(w.coalesced)
	wait := w.opts.RetryMin
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.SaveTimeout)
		start := w.opts.Clock.Now()
		err := w.store.Save(sctx, cs, devices)
		cancel()
		now := w.opts.Clock.Now()
		w.mu.Lock()
		if err == nil {
			w.stats.Batches++
			w.stats.LastSave, w.stats.LastSaveAt = now.Sub(start), now
			w.stats.LastError = nil
		} else {
			w.stats.Failures++
			w.stats.LastError, w.stats.LastErrorAt = err, now
		}
		w.mu.Unlock()
		if err == nil {
			if attempt > 1 {
				w.log.Info("saving check-ins recovered", "attempts", attempt, "records", len(cs))
			}
			return nil
		}

		if ctx.Err() != nil {
			if w.drainBy.IsZero() {
				w.drainBy = now.Add(w.opts.DrainTimeout)
			}
			if !now.Before(w.drainBy) {
				return err
			}
			wait = min(wait, w.drainBy.Sub(now))
		}
		w.log.Warn("saving check-ins failed; retrying", "attempt", attempt, "records", len(cs), "retry_in", wait, "err", err)
		var done <-chan struct{} // nil, never ready, once ctx is done
		if ctx.Err() == nil {
			done = ctx.Done()
		}
		t := w.opts.Clock.NewTimer(wait)
		select {
		case <-t.C():
		case <-done:
			// Shutting down: retry now, under the drain deadline.
			t.Stop()
		}
		wait = min(2*wait, w.opts.RetryMax)
	}
}

// syncJournalEvery writes the journal to disk every FlushEvery until stop
// is closed, and once more then.
func (w *Writer) syncJournalEvery(stop <-chan struct{}) {
	t := time.NewTicker(w.opts.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.syncJournal()
		case <-stop:
			w.syncJournal()
			return
		}
	}
}

// syncJournal writes the journal to disk, if there is one: what a power
// loss can take is what was journaled since. A failure is logged and
// tried again at the next tick; it costs nothing while the process lives.
func (w *Writer) syncJournal() {
	if w.opts.Journal == nil {
		return
	}
	if err := w.opts.Journal.sync(); err != nil {
		w.log.Warn("writing the check-in journal to disk failed; a power loss may take more than FlushEvery of check-ins", "err", err)
	}
}

// withTime returns the check-ins of cs that are real: a zero At marks a
// summary queued alone.
func withTime(cs []CheckIn) []CheckIn {
	n := 0
	for i := range cs {
		if !cs[i].At.IsZero() {
			n++
		}
	}
	if n == len(cs) {
		return cs
	}
	out := make([]CheckIn, 0, n)
	for _, c := range cs {
		if !c.At.IsZero() {
			out = append(out, c)
		}
	}
	return out
}

// coalesce returns the newest of ds's non-zero summaries for each MAC: a
// batch needs to write each device once.
func (w *Writer) coalesce(ds []Device) []Device {
	clear(w.index)
	w.coalesced = w.coalesced[:0]
	for i := range ds {
		d := &ds[i]
		if d.isZero() {
			continue
		}
		if j, ok := w.index[d.MAC]; ok {
			w.coalesced[j] = *d
			continue
		}
		w.index[d.MAC] = len(w.coalesced)
		w.coalesced = append(w.coalesced, *d)
	}
	return w.coalesced
}

// logDrops logs check-ins dropped since it last did, so that a full queue
// is reported once per flush interval rather than once per request.
func (w *Writer) logDrops() {
	w.mu.Lock()
	dropped, closed, full := w.stats.Dropped, w.closed, w.stats.JournalFull
	w.mu.Unlock()
	if n := dropped - w.loggedDrops; n > 0 {
		if closed {
			w.log.Warn("check-ins dropped: writer stopping", "dropped", n)
		} else {
			w.log.Warn("check-ins dropped: queue or journal full", "dropped", n, "queue_size", w.opts.QueueSize, "journal_full_total", full)
		}
		w.loggedDrops = dropped
	}
}
