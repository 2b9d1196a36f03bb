package checkin

import (
	"context"
	"fmt"
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
