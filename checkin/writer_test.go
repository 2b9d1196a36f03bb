package checkin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otagit/otagit/internal/clock"
	"github.com/otagit/otagit/internal/testwait"
	"github.com/otagit/otagit/rollout"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeStore is a Memory whose Save can be made to fail, wait or block, and
// which records the calls it gets.
type fakeStore struct {
	*Memory
	delay time.Duration

	mu      sync.Mutex
	failing int           // fail this many more Saves; < 0 fails all
	block   chan struct{} // if not nil, Save waits until it is closed
	calls   []saveCall
}

type saveCall struct {
	checkins []CheckIn
	devices  []Device
}

var errFake = errors.New("disk on fire")

func newFakeStore() *fakeStore { return &fakeStore{Memory: NewMemoryKeep(1 << 30)} }

func (f *fakeStore) Save(ctx context.Context, checkins []CheckIn, devices []Device) error {
	f.mu.Lock()
	block := f.block
	fail := f.failing != 0
	if f.failing > 0 {
		f.failing--
	}
	f.calls = append(f.calls, saveCall{slices.Clone(checkins), slices.Clone(devices)})
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	time.Sleep(f.delay)
	if fail {
		return errFake
	}
	return f.Memory.Save(ctx, checkins, devices)
}

func (f *fakeStore) setFailing(n int) { f.mu.Lock(); f.failing = n; f.mu.Unlock() }

func (f *fakeStore) callCount() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.calls) }

// countCheckIns returns how many check-ins s holds for the MACs.
func countCheckIns(t *testing.T, s Store, macs []rollout.MAC) int {
	t.Helper()
	n := 0
	for _, m := range macs {
		h, err := s.History(context.Background(), m, 0)
		if err != nil {
			t.Fatal(err)
		}
		n += len(h)
	}
	return n
}

// startWriter runs w until the returned stop is called; stop returns Run's
// error.
func startWriter(t *testing.T, w *Writer) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			// Run saves all it holds first, which takes as long as it
			// takes on a loaded machine; it is stuck only if it neither
			// saves nor tries to for a long while.
			testwait.ForProgress(t, "Run to return after its context was cancelled",
				func() bool { return len(done) > 0 },
				func() [2]uint64 { st := w.Stats(); return [2]uint64{st.Saved, st.Failures} })
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestWriterOrderWithinMAC(t *testing.T) {
	const goroutines, macsEach, perMAC = 3, 10, 300
	s := newFakeStore()
	w := NewWriter(s, WriterOptions{MaxBatch: 64, FlushEvery: time.Millisecond, Logger: quietLog})
	stop := startWriter(t, w)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			// Every check-in has the same At: only the order of Adds can
			// order them.
			for i := range perMAC {
				for m := range macsEach {
					c := CheckIn{MAC: testMAC(g*macsEach + m), At: t0, Reason: fmt.Sprint(i)}
					for !w.Add(c, Device{}) {
						time.Sleep(time.Millisecond)
					}
				}
			}
		})
	}
	wg.Wait()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for m := range goroutines * macsEach {
		h, err := s.History(context.Background(), testMAC(m), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != perMAC {
			t.Fatalf("MAC %d: got %d check-ins, want %d", m, len(h), perMAC)
		}
		for i, c := range h {
			if got, want := c.Reason, fmt.Sprint(perMAC-1-i); got != want {
				t.Fatalf("MAC %d: check-in %d of the history: got %s, want %s", m, i, got, want)
			}
		}
	}
	if len(s.calls) < 2 {
		t.Errorf("got %d Saves, want several batches", len(s.calls))
	}
	for _, c := range s.calls {
		if len(c.checkins) > 64 {
			t.Errorf("a Save got %d check-ins, want at most MaxBatch (64)", len(c.checkins))
		}
	}
}

func TestWriterCoalesce(t *testing.T) {
	s := newFakeStore()
	w := NewWriter(s, WriterOptions{Logger: quietLog})
	a, b, c := testMAC(1), testMAC(2), testMAC(3)
	adds := []struct {
		mac     rollout.MAC
		version string // "" adds the zero Device
	}{
		{a, "1"}, {b, "b"}, {a, "2"}, {c, ""}, {a, "3"},
	}
	for i, add := range adds {
		var d Device
		if add.version != "" {
			d = Device{MAC: add.mac, LastVersion: add.version, LastSeen: t0.Add(time.Duration(i))}
		}
		if !w.Add(CheckIn{MAC: add.mac, At: t0, Reason: fmt.Sprint(i)}, d) {
			t.Fatalf("Add %d refused", i)
		}
	}
	if err := startWriter(t, w)(); err != nil {
		t.Fatal(err)
	}
	if len(s.calls) != 1 {
		t.Fatalf("got %d Saves, want 1", len(s.calls))
	}
	var got []string
	for _, d := range s.calls[0].devices {
		got = append(got, d.MAC.String()+"="+d.LastVersion)
	}
	if want := []string{a.String() + "=3", b.String() + "=b"}; !slices.Equal(got, want) {
		t.Errorf("devices saved: got %q, want %q (the newest per MAC; none for the zero Device)", got, want)
	}
	if got, want := len(s.calls[0].checkins), len(adds); got != want {
		t.Errorf("check-ins saved: got %d, want %d", got, want)
	}
}

func TestWriterDropsWhenFull(t *testing.T) {
	s := newFakeStore()
	s.block = make(chan struct{})
	w := NewWriter(s, WriterOptions{QueueSize: 8, MaxBatch: 4, FlushEvery: time.Millisecond, Logger: quietLog})

	// Not running: the queue fills and then refuses.
	for i := range 8 {
		if !w.Add(sampleCheckIn(testMAC(i), i), Device{}) {
			t.Fatalf("Add %d refused with room in the queue", i)
		}
	}
	// Nothing drains the queue here, so an Add that waited for room
	// would never return.
	const full = 10000
	accepted := make(chan int, 1)
	go func() {
		n := 0
		for i := range full {
			if w.Add(sampleCheckIn(testMAC(i), i), Device{}) {
				n++
			}
		}
		accepted <- n
	}()
	if n := testwait.Recv(t, "Adds on a full queue to return", accepted); n != 0 {
		t.Fatalf("got %d Adds on a full queue accepted, want 0", n)
	}
	if st := w.Stats(); st.Dropped != full || st.Queued != 8 {
		t.Errorf("stats: got dropped %d, queued %d; want %d, 8", st.Dropped, st.Queued, full)
	}

	// Running, with the store stuck: Adds still return at once, and the
	// records held by the stuck Save count against the queue.
	stop := startWriter(t, w)
	testwait.For(t, "the writer to take the queue", func() bool { return w.Stats().Queued == 8 && s.callCount() > 0 })
	refused := 0
	for i := range 100 {
		if !w.Add(sampleCheckIn(testMAC(100+i), i), Device{}) {
			refused++
		}
	}
	if refused != 100 {
		t.Errorf("got %d Adds accepted while the queue is held by a stuck Save, want 0", 100-refused)
	}
	close(s.block)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Saved != 8 || st.Queued != 0 || st.Dropped != full+100 {
		t.Errorf("stats: got %+v, want 8 saved, 0 queued, %d dropped", st, full+100)
	}
}

func TestWriterRetries(t *testing.T) {
	s := newFakeStore()
	s.setFailing(3)
	w := NewWriter(s, WriterOptions{FlushEvery: time.Millisecond, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond, Logger: quietLog})
	stop := startWriter(t, w)
	var macs []rollout.MAC
	for i := range 10 {
		macs = append(macs, testMAC(i))
		w.Add(sampleCheckIn(testMAC(i), i), sampleDevice(testMAC(i), "1"))
	}
	testwait.For(t, "the check-ins to be saved after retries", func() bool { return w.Stats().Saved == 10 })
	st := w.Stats()
	if st.Failures != 3 || st.Batches != 1 || st.LastError != nil || st.LastErrorAt.IsZero() {
		t.Errorf("stats: got %+v, want 3 failures, 1 batch, LastError cleared, LastErrorAt set", st)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := countCheckIns(t, s, macs); got != 10 {
		t.Errorf("got %d check-ins stored, want 10", got)
	}
}

func TestWriterShutdown(t *testing.T) {
	const macs, perMAC = 1000, 20
	var all []rollout.MAC
	for m := range macs {
		all = append(all, testMAC(m))
	}
	tests := []struct {
		name    string
		delay   time.Duration
		failing int
	}{
		{"slow store", 2 * time.Millisecond, 0},
		{"store failing, then recovering", 0, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeStore()
			s.delay = tt.delay
			s.setFailing(tt.failing)
			w := NewWriter(s, WriterOptions{
				MaxBatch: 100, FlushEvery: time.Hour, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond,
				Logger: quietLog,
			})
			stop := startWriter(t, w)
			for i := range perMAC {
				for m := range macs {
					if !w.Add(sampleCheckIn(testMAC(m), i), Device{}) {
						t.Fatal("Add refused")
					}
				}
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got, want := countCheckIns(t, s, all), macs*perMAC; got != want {
				t.Errorf("got %d check-ins stored, want %d", got, want)
			}
			if st := w.Stats(); st.Queued != 0 || st.Saved != macs*perMAC || st.Lost != 0 {
				t.Errorf("stats: got %+v, want all saved, none queued or lost", st)
			}
			if w.Add(sampleCheckIn(testMAC(0), 0), Device{}) {
				t.Error("Add after Run returned: got true, want false")
			}
		})
	}
}

// TestWriterGivesUp: a store that fails throughout is retried, with
// backoff, for DrainTimeout after shutdown begins, and no longer. The
// writer's clock is a fake that each wait moves forward.
func TestWriterGivesUp(t *testing.T) {
	s := newFakeStore()
	s.setFailing(-1)
	clk := clock.NewAutoFake(t0)
	w := NewWriter(s, WriterOptions{FlushEvery: time.Hour, RetryMin: time.Second, RetryMax: 4 * time.Second,
		DrainTimeout: 30 * time.Second, Clock: clk, Logger: quietLog})
	for i := range 10 {
		w.Add(sampleCheckIn(testMAC(i), i), Device{})
	}
	err := startWriter(t, w)()
	if !errors.Is(err, errFake) {
		t.Errorf("Run: got %v, want the store's error", err)
	}
	// Backoff doubles to RetryMax; the last wait ends at the deadline.
	s4 := 4 * time.Second
	if got, want := clk.Waits(), []time.Duration{time.Second, 2 * time.Second, s4, s4, s4, s4, s4, s4, 3 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits: got %v, want %v", got, want)
	}
	if got := clk.Now().Sub(t0); got != 30*time.Second {
		t.Errorf("gave up after %v, want DrainTimeout (30s)", got)
	}
	if st := w.Stats(); st.Lost != 10 || st.Queued != 0 || st.Saved != 0 || st.Failures != 10 || !st.LastErrorAt.Equal(t0.Add(30*time.Second)) {
		t.Errorf("stats: got %+v, want 10 lost, none queued or saved, 10 failures, the last at the deadline", st)
	}
}

func TestWriterRunTwice(t *testing.T) {
	w := NewWriter(NewMemory(), WriterOptions{Logger: quietLog})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Run(ctx); err != nil {
		t.Fatalf("first Run: %v", err)
	}
	if err := w.Run(ctx); err == nil {
		t.Error("second Run: got nil, want an error")
	}
}

// TestWriterAcknowledgedAreSaved adds from many goroutines while Run shuts
// down: every Add that returned true must be in the store afterwards.
func TestWriterAcknowledgedAreSaved(t *testing.T) {
	const goroutines, macsEach = 4, 100
	s := newFakeStore()
	w := NewWriter(s, WriterOptions{MaxBatch: 256, FlushEvery: time.Millisecond, Logger: quietLog})
	stop := startWriter(t, w)
	var acked atomic.Int64
	var stopping atomic.Bool
	var wg sync.WaitGroup
	started := make(chan struct{}, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := 0; ; i++ {
				if i == 100 {
					started <- struct{}{}
				}
				m := testMAC(g*macsEach + i%macsEach)
				if w.Add(sampleCheckIn(m, i), sampleDevice(m, fmt.Sprint(i))) {
					acked.Add(1)
				} else if stopping.Load() {
					return // closed (or full while closing)
				}
			}
		})
	}
	for range goroutines {
		<-started
	}
	stopping.Store(true)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	var all []rollout.MAC
	for m := range goroutines * macsEach {
		all = append(all, testMAC(m))
	}
	if got, want := countCheckIns(t, s, all), int(acked.Load()); got != want {
		t.Errorf("got %d check-ins stored, want the %d acknowledged", got, want)
	}
	t.Logf("%d acknowledged, %d dropped", acked.Load(), w.Stats().Dropped)
}

// TestWriterBoltShutdown adds 100,000 check-ins as fast as it can, stops
// the writer, reopens the file and counts them.
func TestWriterBoltShutdown(t *testing.T) {
	const macs, perMAC = 5000, 20 // under KeepPerDevice, so nothing is pruned
	path := filepath.Join(t.TempDir(), "checkins.db")
	s := openTestBolt(t, path, DefaultKeepPerDevice)
	w := NewWriter(s, WriterOptions{QueueSize: 1 << 17, Logger: quietLog})
	stop := startWriter(t, w)
	acked := 0
	for i := range perMAC {
		for m := range macs {
			mac := testMAC(m)
			if w.Add(sampleCheckIn(mac, i), sampleDevice(mac, fmt.Sprint(i))) {
				acked++
			}
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if acked != macs*perMAC {
		t.Errorf("got %d Adds acknowledged, want all %d (the queue holds them all)", acked, macs*perMAC)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestBolt(t, path, DefaultKeepPerDevice)
	var all []rollout.MAC
	for m := range macs {
		all = append(all, testMAC(m))
	}
	if got := countCheckIns(t, s, all); got != acked {
		t.Errorf("after reopening: got %d check-ins, want the %d acknowledged", got, acked)
	}
	devices, err := s.LoadDevices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(devices) != macs {
		t.Fatalf("got %d devices, want %d", len(devices), macs)
	}
	for _, d := range devices {
		if want := sampleDevice(d.MAC, fmt.Sprint(perMAC-1)); !reflect.DeepEqual(d, want) {
			t.Fatalf("device %s: got %+v, want the last summary added, %+v", d.MAC, d, want)
		}
	}
	h, err := s.History(context.Background(), testMAC(7), 1)
	if err != nil || len(h) != 1 || !reflect.DeepEqual(h[0], sampleCheckIn(testMAC(7), perMAC-1)) {
		t.Errorf("newest check-in: got %+v, %v; want the last added", h, err)
	}
}

// TestWriterSummariesNotDropped checks that summaries queued alone, as a
// Tracker's periodic re-save of every device queues them, are never
// dropped however many there are (they used to overflow QueueSize), that
// the newest per MAC is saved, and that a summary queued with a later
// check-in replaces one queued alone before it.
func TestWriterSummariesNotDropped(t *testing.T) {
	s := newFakeStore()
	w := NewWriter(s, WriterOptions{QueueSize: 8, MaxBatch: 4, Logger: quietLog})
	const devices = 100
	for round := range 3 {
		for i := range devices {
			d := Device{MAC: testMAC(i), LastVersion: fmt.Sprint(round), LastSeen: t0.Add(time.Duration(round))}
			if !w.Add(CheckIn{}, d) {
				t.Fatalf("summary %d of round %d refused", i, round)
			}
		}
	}
	// A check-in with a summary after the one queued alone: its summary wins.
	if !w.Add(sampleCheckIn(testMAC(0), 0), Device{MAC: testMAC(0), LastVersion: "with-checkin"}) {
		t.Fatal("check-in refused")
	}
	if st := w.Stats(); st.Dropped != 0 || st.Queued != devices {
		t.Fatalf("stats: got dropped %d, queued %d; want 0, %d (the summary queued alone of MAC 0 replaced)", st.Dropped, st.Queued, devices)
	}
	if err := startWriter(t, w)(); err != nil {
		t.Fatal(err)
	}
	all, err := s.LoadDevices(context.Background())
	if err != nil || len(all) != devices {
		t.Fatalf("got %d devices saved (err %v), want %d", len(all), err, devices)
	}
	for _, d := range all {
		want := "2"
		if d.MAC == testMAC(0) {
			want = "with-checkin"
		}
		if d.LastVersion != want {
			t.Errorf("device %s: got version %q, want %q", d.MAC, d.LastVersion, want)
		}
	}
	if st := w.Stats(); st.Dropped != 0 || st.Queued != 0 || st.Saved != devices {
		t.Errorf("stats: got %+v, want 0 dropped, 0 queued, %d saved", st, devices)
	}
}
