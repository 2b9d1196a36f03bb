package checkin

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otagit/otagit/internal/pgtest"
	"github.com/otagit/otagit/internal/testwait"
	"github.com/otagit/otagit/rollout"
)

// TestReplicaHaltsAndResumes: two trackers on one PostgreSQL database, as
// two replicas are. A release halted on one is halted on the other within
// 1s, by notification (the periodic read is set to an hour, so that it
// cannot be what brings it), and a resume on the other lifts it on the
// first, its counts reset on both.
func TestReplicaHaltsAndResumes(t *testing.T) {
	dsn := pgtest.DB(t)
	noRefresh := func(o *TrackerOptions) { o.HaltRefresh = time.Hour }
	a := newTrackerFixtureOn(t, openTestPostgres(t, dsn, 0), noRefresh)
	b := newTrackerFixtureOn(t, openTestPostgres(t, dsn, 0), noRefresh)
	// Two devices fail on a: 2 of 2 outcomes, over 50%: halted.
	for _, i := range []int{0, 1} {
		for range 3 {
			a.checkIn(i, "1.0.0", "")
		}
	}
	if !a.tr.Halted(a.r11) {
		t.Fatal("not halted on a after 2 of 2 failures")
	}
	halted := time.Now()
	testwait.For(t, "the halt on b", func() bool { return b.tr.Halted(b.r11) })
	if d := time.Since(halted); d > time.Second {
		t.Errorf("the halt took %v to reach b, want < 1s", d)
	}
	t.Logf("halt on a in force on b after %v", time.Since(halted))
	if h := b.tr.Halts(); len(h) != 1 || h[0].Failed != 2 {
		t.Errorf("halts on b: %+v", h)
	}

	if err := b.tr.Resume(b.r11.ID(), b.now); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	testwait.For(t, "the resume on a", func() bool { return !a.tr.Halted(a.r11) })
	if d := time.Since(resumed); d > time.Second {
		t.Errorf("the resume took %v to reach a, want < 1s", d)
	}
	if s := a.tr.ReleaseStats(a.r11.ID()); len(s) != 0 {
		t.Errorf("counts on a after the resume on b: %+v, want none", s)
	}
}

// TestReplicaHaltRefresh: with notifications missed, the periodic read
// still brings a halt.
func TestReplicaHaltRefresh(t *testing.T) {
	dsn := pgtest.DB(t)
	a := newTrackerFixtureOn(t, openTestPostgres(t, dsn, 0), nil)
	// b's store is a Postgres that hides its notifications.
	b := newTrackerFixtureOn(t, noWatch{openTestPostgres(t, dsn, 0)}, func(o *TrackerOptions) { o.HaltRefresh = 20 * time.Millisecond })
	for _, i := range []int{0, 1} {
		for range 3 {
			a.checkIn(i, "1.0.0", "")
		}
	}
	if !a.tr.Halted(a.r11) {
		t.Fatal("not halted on a")
	}
	testwait.For(t, "the halt on b", func() bool { return b.tr.Halted(b.r11) })
}

// noWatch is a shared store whose notifications are lost.
type noWatch struct{ *Postgres }

func (n noWatch) WatchHalts(ctx context.Context, changed func()) error {
	<-ctx.Done()
	return nil
}

// TestReplicaPostgresRestart: the database restarts while two replicas
// record check-ins. Nothing acknowledged is lost (the writers retry until
// it is back), and the halt listeners reconnect by themselves: a halt after
// the restart reaches the other replica.
func TestReplicaPostgresRestart(t *testing.T) {
	pg := pgtest.New(t)
	dsn := pg.NewDB(t)
	fast := func(o *TrackerOptions) {
		o.HaltRefresh = time.Hour
		o.Writer.RetryMin, o.Writer.RetryMax = 10*time.Millisecond, 100*time.Millisecond
	}
	open := func() *Postgres {
		s, err := OpenPostgres(context.Background(), PostgresOptions{DSN: dsn, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a := newTrackerFixtureOn(t, open(), fast)
	b := newTrackerFixtureOn(t, open(), fast)
	// Devices 2..9 check in, alternating replicas, before, during and
	// after the restart; each check-in differs, so each is stored.
	n := 0
	poll := func() {
		for i := 2; i < 10; i++ {
			fx := a
			if (n+i)%2 == 1 {
				fx = b
			}
			fx.checkIn(i, fmt.Sprintf("0.0.%d", n), "")
		}
		n++
	}
	poll()
	pg.Stop()
	for range 5 {
		poll()
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	poll()
	saved := func() uint64 { return a.tr.WriterStats().Saved + b.tr.WriterStats().Saved }
	want := uint64(8 * n)
	testwait.For(t, "every check-in saved", func() bool { return saved() >= want })
	for _, fx := range []*trackerFixture{a, b} {
		if ws := fx.tr.WriterStats(); ws.Dropped != 0 || ws.Lost != 0 || ws.Queued != 0 {
			t.Errorf("writer: %+v", ws)
		}
	}
	if a.tr.WriterStats().Failures+b.tr.WriterStats().Failures == 0 {
		t.Error("no save failed while the database was down: the test tests nothing")
	}
	total := 0
	for i := 2; i < 10; i++ {
		h, err := a.tr.History(context.Background(), mac(i), 0)
		if err != nil {
			t.Fatal(err)
		}
		total += len(h)
	}
	if total != int(want) {
		t.Errorf("%d check-ins in the database, want %d", total, want)
	}
	// The listeners are back: a halt on a reaches b by notification.
	for _, i := range []int{0, 1} {
		for range 3 {
			a.checkIn(i, "1.0.0", "")
		}
	}
	if !a.tr.Halted(a.r11) {
		t.Fatal("not halted on a")
	}
	testwait.For(t, "the halt on b after the restart", func() bool { return b.tr.Halted(b.r11) })
}

// TestReplicaSharesOfferAndOutcome: a device offered an update by one
// replica that comes back on the other with the new version succeeds
// there, and the outcome counts on both; a failure counts on both too.
func TestReplicaSharesOfferAndOutcome(t *testing.T) {
	dsn := pgtest.DB(t)
	noRefresh := func(o *TrackerOptions) { o.HaltRefresh = time.Hour }
	a := newTrackerFixtureOn(t, openTestPostgres(t, dsn, 0), noRefresh)
	b := newTrackerFixtureOn(t, openTestPostgres(t, dsn, 0), noRefresh)
	a.r11.HaltOnFailure, b.r11.HaltOnFailure = 0, 0 // counts only
	for _, i := range []int{0, 1} {
		if d := a.checkIn(i, "1.0.0", ""); d.Outcome != rollout.Update {
			t.Fatalf("device %d: %v, want an offer", i, d.Outcome)
		}
	}
	testwait.For(t, "a's offers on b", func() bool {
		d0, ok0 := b.tr.Device(mac(0))
		d1, ok1 := b.tr.Device(mac(1))
		return ok0 && ok1 && d0.Offer != nil && d1.Offer != nil
	})
	b.now = a.now
	b.checkIn(0, "1.1.0", "") // flashed: a success, seen by b
	for range 3 {
		b.checkIn(1, "1.0.0", "") // came back on the old version: a failure
	}
	for name, fx := range map[string]*trackerFixture{"a": a, "b": b} {
		testwait.For(t, "the outcomes on "+name, func() bool {
			r0, ok0 := fx.latest(0)
			r1, ok1 := fx.latest(1)
			return ok0 && ok1 && r0 == Success && r1 == Failure
		})
		if s := fx.tr.ReleaseStats(fx.r11.ID()); len(s) != 1 || s[0].Offered != 2 || s[0].Succeeded != 1 || s[0].Failed != 1 {
			t.Errorf("counts on %s: %+v, want 2 offered, 1 succeeded, 1 failed", name, s)
		}
	}
}

// TestTrackerStartsWithPostgresDown: a Deferred tracker on a database
// that is down serves decisions at once: a release that can auto-halt is
// held (its halts cannot be read), check-ins are kept up to the queue's
// bound and the rest dropped and counted, and the store shows as not
// reachable. Once the database starts, the tracker reads it by itself,
// the check-ins kept are saved, and a halt stored there is in force.
func TestTrackerStartsWithPostgresDown(t *testing.T) {
	pg := pgtest.New(t)
	dsn := pg.NewDB(t)
	// A halt stored by another replica before this one starts.
	halted := &Halt{Platform: "lamp", Version: "1.0.0", Fingerprint: "fp-10", Reason: "by another replica", At: time.Now().UTC()}
	if err := openTestPostgres(t, dsn, 0).PutHalt(context.Background(), *halted); err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	s, err := NewPostgres(PostgresOptions{DSN: dsn, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const queue = 5
	fx := newTrackerFixtureOn(t, s, func(o *TrackerOptions) {
		o.Deferred = true
		o.Writer.QueueSize = queue
	})
	for i := range 8 {
		if d := fx.checkIn(i, "0.9.0", ""); d.Outcome == rollout.Update && d.Release.AutoHalts() {
			t.Errorf("device %d offered %s, which may be halted, before the halts are read", i, d.Release.Version)
		}
	}
	if ws := fx.tr.WriterStats(); ws.Queued != queue || ws.Dropped != 8-queue {
		t.Errorf("with the database down: %d queued, %d dropped; want %d and %d", ws.Queued, ws.Dropped, queue, 8-queue)
	}
	testwait.For(t, "an attempt to reach the database", func() bool { return s.Health().LastError != "not connected yet" })
	if info := fx.tr.StoreInfo(); info.Loaded || info.Reachable == nil || *info.Reachable {
		t.Errorf("store info with the database down: %+v", info)
	}

	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the store read and the check-ins saved", func() bool {
		ws := fx.tr.WriterStats()
		return fx.tr.StoreInfo().Loaded && ws.Queued == 0 && ws.Saved == queue
	})
	if info := fx.tr.StoreInfo(); info.Reachable == nil || !*info.Reachable || info.LastError != "" {
		t.Errorf("store info with the database back: %+v", info)
	}
	for i := range queue {
		if h, err := fx.tr.History(context.Background(), mac(i), 0); err != nil || len(h) != 1 {
			t.Errorf("device %d: history %v, %v; want its one check-in", i, h, err)
		}
	}
	if !fx.tr.Halted(fx.r10) || fx.tr.Halted(fx.r11) {
		t.Errorf("halts once read: 1.0.0 %v, 1.1.0 %v; want only 1.0.0", fx.tr.Halted(fx.r10), fx.tr.Halted(fx.r11))
	}
	// Now 1.1.0, which can auto-halt, is offered.
	if d := fx.checkIn(9, "1.0.0", ""); d.Outcome != rollout.Update {
		t.Errorf("device 9 once the store is read: %v, want an offer", d.Outcome)
	}
}

// TestReplicaMergedFailuresHalt: failures merged from another replica
// run the same halt check as local ones. Device 0 fails on a and device 1
// on b: neither failure alone halts (2 outcomes are needed); a halts as
// soon as it merges b's. a reads no halts from the store (no
// notifications, no refresh), so that only its own check can halt it.
func TestReplicaMergedFailuresHalt(t *testing.T) {
	dsn := pgtest.DB(t)
	noRefresh := func(o *TrackerOptions) { o.HaltRefresh = time.Hour }
	a := newTrackerFixtureOn(t, noWatch{openTestPostgres(t, dsn, 0)}, noRefresh)
	b := newTrackerFixtureOn(t, openTestPostgres(t, dsn, 0), noRefresh)
	a.tr.Reconcile(a.fleet.Load())
	for range 3 {
		a.checkIn(0, "1.0.0", "")
	}
	if r, ok := a.latest(0); !ok || r != Failure || a.tr.Halted(a.r11) {
		t.Fatalf("device 0 on a: %v %v, halted %v; want a failure and no halt", r, ok, a.tr.Halted(a.r11))
	}
	for range 3 {
		b.checkIn(1, "1.0.0", "")
	}
	testwait.For(t, "a to halt on b's failure", func() bool { return a.tr.Halted(a.r11) })
	if h := a.tr.Halts(); len(h) != 1 || h[0].Failed != 2 || h[0].Total != 2 {
		t.Errorf("halts on a: %+v, want 2 of 2 failed", h)
	}
}

// TestReplicaAttemptGapShared: the attempt gap holds across replicas. A
// check-in without the device's credential counts a failed attempt on a;
// one on b a minute later, inside the gap, does not count another, as it
// would not on a (before, b had no record of when the device's counts
// moved, so N replicas counted N attempts per gap).
func TestReplicaAttemptGapShared(t *testing.T) {
	dsn := pgtest.DB(t)
	gap := func(o *TrackerOptions) { o.HaltRefresh, o.AttemptGap = time.Hour, 10*time.Minute }
	a := newTrackerFixtureOn(t, openTestPostgres(t, dsn, 0), gap)
	b := newTrackerFixtureOn(t, openTestPostgres(t, dsn, 0), gap)
	a.r11.HaltOnFailure, b.r11.HaltOnFailure = 0, 0 // counts only
	if d := a.checkIn(0, "1.0.0", ""); d.Outcome != rollout.Update {
		t.Fatalf("device 0: %v, want an offer", d.Outcome)
	}
	a.now = a.now.Add(10 * time.Minute)
	a.checkIn(0, "1.0.0", "") // attempt 1, a gap after the offer
	testwait.For(t, "attempt 1 on b", func() bool {
		d, ok := b.tr.Device(mac(0))
		return ok && d.Offer != nil && d.Offer.Attempts == 1
	})
	b.now = a.now
	b.checkIn(0, "1.0.0", "") // a minute later, on b
	d, _ := b.tr.Device(mac(0))
	if len(d.Outcomes) != 0 || d.Offer == nil || d.Offer.Attempts != 1 {
		t.Errorf("after a second attempt inside the gap, on b: offer %+v, outcomes %+v; want attempt 1 still pending", d.Offer, d.Outcomes)
	}
}

// haltsDown is a shared store (it watches halts, never notifying) whose
// PutHalt fails while down is set, counting the failures.
type haltsDown struct {
	*Memory
	down  atomic.Bool
	fails atomic.Int64
}

func (s *haltsDown) PutHalt(ctx context.Context, h Halt) error {
	if s.down.Load() {
		s.fails.Add(1)
		return errors.New("connection refused")
	}
	return s.Memory.PutHalt(ctx, h)
}

func (s *haltsDown) WatchHalts(ctx context.Context, changed func()) error {
	<-ctx.Done()
	return nil
}

// TestHaltDecidedWhileStoreDown: a halt decided while the shared store
// fails to save it stays in force through the reloads of the store's
// halts (which do not have it), and is saved once the store is back.
func TestHaltDecidedWhileStoreDown(t *testing.T) {
	s := &haltsDown{Memory: NewMemory()}
	s.down.Store(true)
	fx := newTrackerFixtureOn(t, s, func(o *TrackerOptions) {
		o.HaltRefresh, o.SummaryEvery = 5*time.Millisecond, 5*time.Millisecond
	})
	for _, i := range []int{0, 1} {
		for range 3 {
			fx.checkIn(i, "1.0.0", "")
		}
	}
	if !fx.tr.Halted(fx.r11) {
		t.Fatal("not halted after 2 of 2 failures")
	}
	// Each failure after the first is a refresh that, before, read the
	// store's halts and undid this one.
	testwait.For(t, "saves of the halt to be retried", func() bool { return s.fails.Load() >= 3 })
	if !fx.tr.Halted(fx.r11) {
		t.Fatal("the halt was undone by a reload while it could not be saved")
	}
	s.down.Store(false)
	testwait.For(t, "the halt saved", func() bool {
		hs, err := s.Memory.Halts(context.Background())
		return err == nil && len(hs) == 1 && hs[0].Kind == Stopped
	})
	if !fx.tr.Halted(fx.r11) {
		t.Error("not halted once saved")
	}
}
