package checkin

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otagit/otagit/internal/testwait"
	"github.com/otagit/otagit/rollout"
)

func journalCheckIn(i int) CheckIn {
	return CheckIn{
		MAC: rollout.MAC{0x24, 0x0a, 0, 0, byte(i >> 8), byte(i)}, At: time.Unix(1_700_000_000, int64(i)).UTC(),
		Platform: "esp32", Version: "1.0." + string(rune('0'+i%10)), FreeSpace: -1, ChipSize: -1,
		Remote: "10.0.0.1:1234", Status: 304, Decision: "up_to_date", Reason: "current", Client: "update",
	}
}

func journalDevice(c CheckIn, outcomes int) Device {
	d := Device{MAC: c.MAC, Platform: c.Platform, FirstSeen: c.At, LastSeen: c.At, LastVersion: c.Version}
	for k := range outcomes {
		d.Outcomes = append(d.Outcomes, Outcome{Platform: "esp32", Version: "1.0." + strings.Repeat("9", k), FromVersion: "0.9", Result: Success, At: c.At})
	}
	return d
}

func openTestJournal(t *testing.T, path string, slots int) *Journal {
	t.Helper()
	j, err := OpenJournal(path, JournalOptions{Slots: slots, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func appendTest(t *testing.T, j *Journal, c CheckIn, d Device) uint64 {
	t.Helper()
	end, ok := j.append(appendJournalBody(nil, &c, &d))
	if !ok {
		t.Fatalf("append %v: no room", c.MAC)
	}
	return end
}

// The records written and not marked saved come back, in order, after the
// journal is closed as a killed process leaves it; Replay saves them and
// a second open finds nothing.
func TestJournalReopenReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkins.journal")
	j := openTestJournal(t, path, 64)
	var want []CheckIn
	for i := range 10 {
		c := journalCheckIn(i)
		want = append(want, c)
		appendTest(t, j, c, journalDevice(c, i)) // records of 1 to several slots
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j = openTestJournal(t, path, 64)
	if len(j.pending) != len(want) {
		t.Fatalf("reopened: %d records, want %d", len(j.pending), len(want))
	}
	for i, r := range j.pending {
		if r.c != want[i] || r.d.LastVersion != want[i].Version || len(r.d.Outcomes) != i {
			t.Fatalf("record %d = %+v, want %+v with %d outcomes", i, r, want[i], i)
		}
	}
	m := NewMemory()
	ctx := context.Background()
	if err := j.Replay(ctx, m); err != nil {
		t.Fatal(err)
	}
	for _, c := range want {
		h, _ := m.History(ctx, c.MAC, 0)
		if len(h) != 1 || h[0] != c {
			t.Fatalf("history of %v after replay = %+v", c.MAC, h)
		}
	}
	if st := j.Stats(); st.Used != 0 {
		t.Fatalf("after replay Used = %d", st.Used)
	}
	j.Close()
	j = openTestJournal(t, path, 64)
	defer j.Close()
	if len(j.pending) != 0 {
		t.Fatalf("after replay and reopen: %d records pending", len(j.pending))
	}
}

// Records wrap around the end of the ring; only those after the watermark
// are read back, and a full ring refuses.
func TestJournalWrapAndFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkins.journal")
	j := openTestJournal(t, path, 16)
	n := 0
	var mark uint64
	for round := range 5 {
		// Fill the ring, mark all but the last 3 records saved.
		var ends []uint64
		for {
			c := journalCheckIn(n)
			end, ok := j.append(appendJournalBody(nil, &c, &Device{}))
			if !ok {
				break
			}
			n++
			ends = append(ends, end)
		}
		if len(ends) < 4 {
			t.Fatalf("round %d: only %d records fit", round, len(ends))
		}
		mark = ends[len(ends)-4]
		j.markSaved(mark)
	}
	j.Close()
	j = openTestJournal(t, path, 16)
	defer j.Close()
	if len(j.pending) != 3 {
		t.Fatalf("after wrapping: %d records pending, want 3", len(j.pending))
	}
	for i, r := range j.pending {
		if want := journalCheckIn(n - 3 + i); r.c != want {
			t.Fatalf("pending %d = %v, want %v", i, r.c.At, want.At)
		}
	}
}

// A record torn when the process died (its seq not yet written, or a
// byte of its body wrong) ends the journal: it and nothing after it is
// read, and a record written after reopening takes its place.
func TestJournalTornRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(j *Journal, s uint64)
	}{
		{"seq missing", func(j *Journal, s uint64) { binary.LittleEndian.PutUint64(journalSlot(j.mem, j.slots, s), 0) }},
		{"body byte", func(j *Journal, s uint64) { journalSlot(j.mem, j.slots, s)[20] ^= 1 }},
		{"continuation", func(j *Journal, s uint64) { journalSlot(j.mem, j.slots, s+1)[30] ^= 1 }},
		{"continuation seq", func(j *Journal, s uint64) { binary.LittleEndian.PutUint64(journalSlot(j.mem, j.slots, s+1), s+1) }},
		{"length", func(j *Journal, s uint64) { binary.LittleEndian.PutUint32(journalSlot(j.mem, j.slots, s)[8:], 1<<30) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "checkins.journal")
			j := openTestJournal(t, path, 64)
			appendTest(t, j, journalCheckIn(0), Device{})
			c1 := journalCheckIn(1)
			torn := appendTest(t, j, c1, Device{})
			c2 := journalCheckIn(2)
			appendTest(t, j, c2, journalDevice(c2, 10)) // several slots
			tc.tear(j, torn)
			j.Close()

			j = openTestJournal(t, path, 64)
			if len(j.pending) != 2 || j.pending[0].c != journalCheckIn(0) || j.pending[1].c != c1 {
				t.Fatalf("pending = %+v, want the 2 records before the torn one", j.pending)
			}
			if err := j.Replay(context.Background(), NewMemory()); err != nil {
				t.Fatal(err)
			}
			c3 := journalCheckIn(3)
			appendTest(t, j, c3, Device{})
			j.Close()
			j = openTestJournal(t, path, 64)
			defer j.Close()
			if len(j.pending) != 1 || j.pending[0].c != c3 {
				t.Fatalf("after rewriting the torn slot: pending = %+v, want only %v", j.pending, c3.At)
			}
		})
	}
}

// Replay saves nothing twice: a check-in saved before the process died
// (but after the watermark last moved) is not added again, and a summary
// older than the stored one does not replace it.
func TestJournalReplayIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkins.journal")
	ctx := context.Background()
	m := NewMemory()
	j := openTestJournal(t, path, 64)
	c0, c1 := journalCheckIn(0), journalCheckIn(1)
	appendTest(t, j, c0, journalDevice(c0, 0))
	appendTest(t, j, c1, journalDevice(c1, 0))
	newer := journalDevice(c1, 2)
	newer.LastSeen = c1.At.Add(time.Hour)
	if err := m.Save(ctx, []CheckIn{c0}, []Device{newer}); err != nil {
		t.Fatal(err)
	}
	j.Close()

	for range 2 { // the second replay, after a replay cut short, finds all saved
		j = openTestJournal(t, path, 64)
		if err := j.Replay(ctx, m); err != nil {
			t.Fatal(err)
		}
		j.Close()
		for _, c := range []CheckIn{c0, c1} {
			if h, _ := m.History(ctx, c.MAC, 0); len(h) != 1 {
				t.Fatalf("history of %v = %d check-ins, want 1", c.MAC, len(h))
			}
		}
		ds, _ := m.LoadDevices(ctx)
		for _, d := range ds {
			if d.MAC == c1.MAC && !d.LastSeen.Equal(newer.LastSeen) {
				t.Fatalf("replay replaced the newer summary of %v: last seen %v", d.MAC, d.LastSeen)
			}
		}
		if len(ds) != 2 {
			t.Fatalf("%d devices after replay, want 2", len(ds))
		}
		// Put the records back as unsaved, as a kill before the watermark
		// moved would have left them.
		resetWatermark(t, path)
	}
}

// A Writer with a journal journals what it acknowledges, moves the
// watermark once the store has it, and drops (counting) what the journal
// has no room for while the store is stuck; a summary alone is never
// dropped.
func TestWriterJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkins.journal")
	j := openTestJournal(t, path, 16)
	if err := j.Replay(context.Background(), NewMemory()); err != nil {
		t.Fatal(err)
	}
	fs := &fakeStore{Memory: NewMemory(), block: make(chan struct{})}
	w := NewWriter(fs, WriterOptions{Journal: j, Logger: quietLog, FlushEvery: time.Millisecond})
	accepted, refused := 0, 0
	for i := range 40 {
		if w.Add(journalCheckIn(i), Device{}) {
			accepted++
		} else {
			refused++
		}
	}
	if accepted == 0 || refused == 0 || accepted > 16 {
		t.Fatalf("16-slot journal: %d accepted, %d refused", accepted, refused)
	}
	if st := w.Stats(); st.Dropped != uint64(refused) || st.JournalFull != uint64(refused) {
		t.Fatalf("stats %+v, want %d dropped for a full journal", st, refused)
	}
	if !w.Add(CheckIn{}, journalDevice(journalCheckIn(99), 0)) {
		t.Fatal("a summary alone was refused for a full journal")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	close(fs.block)
	testwait.For(t, "the journal's watermark to pass every saved record", func() bool {
		return j.Stats().Used == 0 && w.Stats().Saved == uint64(accepted)+1
	})
	if !w.Add(journalCheckIn(100), Device{}) {
		t.Fatal("journal full after the store caught up")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if u := j.Stats().Used; u != 0 {
		t.Fatalf("after a clean stop the journal holds %d slots", u)
	}
	j.Close()
	j = openTestJournal(t, path, 16)
	defer j.Close()
	if len(j.pending) != 0 {
		t.Fatalf("after a clean stop: %d records to replay", len(j.pending))
	}
}

// NewTracker replays the journal before it loads the devices: a check-in
// acknowledged by the last process is in the store and the tracker.
func TestTrackerReplaysJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkins.journal")
	j := openTestJournal(t, path, 64)
	c := journalCheckIn(7)
	appendTest(t, j, c, journalDevice(c, 1))
	j.Close()
	j = openTestJournal(t, path, 64)
	defer j.Close()
	m := NewMemory()
	tr, err := NewTracker(context.Background(), TrackerOptions{Store: m, Journal: j, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := tr.Device(c.MAC); !ok || d.LastVersion != c.Version {
		t.Fatalf("tracker after replay: %+v, %v", d, ok)
	}
	if h, _ := m.History(context.Background(), c.MAC, 0); len(h) != 1 {
		t.Fatalf("history after replay: %+v", h)
	}
}

// A file that is not a journal is set aside and a new one made; a second
// process cannot open a journal in use.
func TestJournalDamagedAndLocked(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkins.journal")
	if err := os.WriteFile(path, []byte("not a journal"), 0o600); err != nil {
		t.Fatal(err)
	}
	j := openTestJournal(t, path, 16)
	defer j.Close()
	aside, _ := filepath.Glob(path + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("set aside: %v", aside)
	}
	if _, err := OpenJournal(path, JournalOptions{Logger: quietLog}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v, want in use", err)
	}
}

// scanJournal reads a damaged or hostile file without panicking, within
// bounds set by its size.
func FuzzJournalScan(f *testing.F) {
	const slots = 6 // small inputs fuzz faster; records of 1 to 3 slots wrap
	j := &Journal{mem: make([]byte, journalHeaderSize+slots*journalSlotSize), slots: slots}
	j.saved.Store(1)
	j.next.Store(1)
	for i := range 3 {
		c := journalCheckIn(i)
		j.append(appendJournalBody(nil, &c, &Device{}))
	}
	j.markSaved(3)
	c := journalCheckIn(3)
	if _, ok := j.append(appendJournalBody(nil, &c, ptr(journalDevice(c, 3)))); !ok {
		f.Fatal("seed record does not fit")
	}
	f.Add(j.mem[journalHeaderSize:], uint64(1))
	f.Add(j.mem[journalHeaderSize:], uint64(3))
	f.Add(j.mem[journalHeaderSize:], uint64(4))
	f.Fuzz(func(t *testing.T, ring []byte, saved uint64) {
		mem := make([]byte, journalHeaderSize+slots*journalSlotSize)
		copy(mem[journalHeaderSize:], ring)
		recs, next, _ := scanJournal(mem, slots, saved)
		if next-saved > slots || uint64(len(recs)) > slots {
			t.Fatalf("scan read %d records up to %d from %d in %d slots", len(recs), next, saved, slots)
		}
	})
}

// decodeJournalBody decodes what appendJournalBody encodes, and anything
// else without panicking.
func FuzzJournalBody(f *testing.F) {
	c := journalCheckIn(1)
	f.Add(appendJournalBody(nil, &c, &Device{}))
	f.Add(appendJournalBody(nil, &CheckIn{}, ptr(journalDevice(c, 3))))
	f.Add(appendJournalBody(nil, &c, ptr(journalDevice(c, 3))))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeJournalBody(b)
		if err != nil {
			return
		}
		again := appendJournalBody(nil, &r.c, &r.d)
		if _, err := decodeJournalBody(again); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
	})
}

// resetWatermark sets a closed journal's watermark back to its start, as
// a process killed between a Save and the watermark's move leaves it.
func resetWatermark(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], 1)
	if _, err := f.WriteAt(b[:], 16); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// Summaries queued alone (the tracker's periodic re-save, as many as the
// fleet) are journaled only while the journal is less than half full, so
// that they never take the room check-ins need; beyond that they are
// still queued and saved.
func TestWriterJournalSummariesHalf(t *testing.T) {
	j := openTestJournal(t, filepath.Join(t.TempDir(), "checkins.journal"), 16)
	defer j.Close()
	if err := j.Replay(context.Background(), NewMemory()); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(NewMemory(), WriterOptions{Journal: j, Logger: quietLog})
	for i := range 30 {
		if !w.Add(CheckIn{}, journalDevice(journalCheckIn(i), 0)) {
			t.Fatalf("summary %d refused", i)
		}
	}
	if u := j.Stats().Used; u == 0 || u > 8 {
		t.Fatalf("30 summaries alone use %d of 16 slots, want 1 to 8", u)
	}
	if st := w.Stats(); st.Queued != 30 {
		t.Fatalf("queued %d, want 30", st.Queued)
	}
	if !w.Add(journalCheckIn(100), Device{}) {
		t.Fatal("no room left in the journal for a check-in")
	}
}

// The journal is written to disk every FlushEvery also while a save is
// being retried (the store down), so that a power loss takes at most that
// window whatever the store does.
func TestWriterJournalSyncsWhileStoreStuck(t *testing.T) {
	j := openTestJournal(t, filepath.Join(t.TempDir(), "checkins.journal"), 64)
	defer j.Close()
	if err := j.Replay(context.Background(), NewMemory()); err != nil {
		t.Fatal(err)
	}
	fs := &fakeStore{Memory: NewMemory(), block: make(chan struct{})}
	w := NewWriter(fs, WriterOptions{Journal: j, Logger: quietLog, FlushEvery: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	w.Add(journalCheckIn(1), Device{})
	testwait.For(t, "a save to start", func() bool { return fs.callCount() > 0 })
	before := j.Stats().Syncs
	testwait.For(t, "the journal to be synced while the save is stuck", func() bool { return j.Stats().Syncs >= before+2 })
	close(fs.block)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// downStore fails every call while down is set, as a database that cannot
// be reached.
type downStore struct {
	*Memory
	down atomic.Bool
}

var errDown = errors.New("store down")

func (s *downStore) Save(ctx context.Context, cs []CheckIn, ds []Device) error {
	if s.down.Load() {
		return errDown
	}
	return s.Memory.Save(ctx, cs, ds)
}

func (s *downStore) LoadDevices(ctx context.Context) ([]Device, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Memory.LoadDevices(ctx)
}

func (s *downStore) History(ctx context.Context, mac rollout.MAC, limit int) ([]CheckIn, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Memory.History(ctx, mac, limit)
}

func (s *downStore) Halts(ctx context.Context) ([]Halt, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Memory.Halts(ctx)
}

// A tracker whose store is down at start (Deferred) starts without
// replaying its journal, and journals the check-ins it holds until the
// store is read: killed before that, the next start saves them all, and
// the previous process's, once each; running, it replays the journal
// once the store is back and saves each held check-in once.
func TestDeferredTrackerJournal(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "checkins.journal")
	j := openTestJournal(t, path, 64)
	a := journalCheckIn(1)
	appendTest(t, j, a, journalDevice(a, 0)) // acknowledged by a killed process
	j.Close()

	store := &downStore{Memory: NewMemory()}
	store.down.Store(true)
	j = openTestJournal(t, path, 64)
	tr, err := NewTracker(ctx, TrackerOptions{Store: store, Journal: j, Deferred: true, Logger: quietLog})
	if err != nil {
		t.Fatalf("deferred tracker with the store down: %v", err)
	}
	b := journalCheckIn(2)
	tr.Observe(b, rollout.Decision{}) // held: the store is not read
	j.Close()                         // killed before the store came back

	j = openTestJournal(t, path, 64)
	if len(j.pending) != 2 {
		t.Fatalf("journal after the second kill: %d records, want the 2 acknowledged", len(j.pending))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr, err = NewTracker(ctx, TrackerOptions{Store: store, Journal: j, Deferred: true, Logger: quietLog,
		Writer: WriterOptions{FlushEvery: time.Millisecond, RetryMin: time.Millisecond, RetryMax: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	c := journalCheckIn(3)
	tr.Observe(c, rollout.Decision{}) // held again, then saved by the writer
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	store.down.Store(false)
	count := func(c CheckIn) int {
		h, _ := store.Memory.History(context.Background(), c.MAC, 0)
		return len(h)
	}
	testwait.For(t, "the journal replayed and the held check-in saved", func() bool {
		return count(a) > 0 && count(b) > 0 && count(c) > 0 && tr.WriterStats().Queued == 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, x := range []CheckIn{a, b, c} {
		if n := count(x); n != 1 {
			t.Errorf("check-in %v saved %d times, want once", x.MAC, n)
		}
	}
	j.Close()
	j = openTestJournal(t, path, 64)
	defer j.Close()
	if len(j.pending) != 0 {
		t.Errorf("after a clean stop: %d records to replay", len(j.pending))
	}
}

// A check-in journaled twice (held alone, then with its summary) is saved
// once by a replay.
func TestJournalReplayTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkins.journal")
	j := openTestJournal(t, path, 64)
	c := journalCheckIn(1)
	appendTest(t, j, c, Device{})
	appendTest(t, j, c, journalDevice(c, 0))
	j.Close()
	j = openTestJournal(t, path, 64)
	defer j.Close()
	m := NewMemory()
	if err := j.Replay(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if h, _ := m.History(context.Background(), c.MAC, 0); len(h) != 1 {
		t.Fatalf("history: %d check-ins, want 1", len(h))
	}
}
