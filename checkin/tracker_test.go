package checkin

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/rollout"
)

// trackerFixture is a one-platform fleet (lamp 1.0.0 and 1.1.0, which
// halts at 50% failures over 2 outcomes) and a Tracker over a Memory store.
type trackerFixture struct {
	t       *testing.T
	fleet   atomic.Pointer[rollout.Fleet]
	store   *Memory
	tr      *Tracker
	now     time.Time
	r10     *rollout.Release
	r11     *rollout.Release
	stopRun func()
}

func newTrackerFixture(t *testing.T, store *Memory) *trackerFixture {
	t.Helper()
	fx := newTrackerFixtureOn(t, store, nil)
	fx.store = store
	return fx
}

// newTrackerFixtureOn is newTrackerFixture on any store, with the
// tracker's options as configure changes them.
func newTrackerFixtureOn(t *testing.T, store Store, configure func(*TrackerOptions)) *trackerFixture {
	t.Helper()
	fx := &trackerFixture{t: t, now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	fx.setFleet("fp-1")
	opts := TrackerOptions{
		Store: store, FailAfter: 2, HistoryEvery: time.Hour, SummaryEvery: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Writer: WriterOptions{FlushEvery: time.Millisecond},
	}
	if configure != nil {
		configure(&opts)
	}
	var err error
	fx.tr, err = NewTracker(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fx.tr.Run(ctx) }()
	fx.stopRun = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			fx.stopRun()
		}
	})
	return fx
}

// setFleet installs the fleet; fingerprint is 1.1.0's.
func (fx *trackerFixture) setFleet(fingerprint string) {
	fx.r10 = &rollout.Release{Platform: "lamp", Version: semver.MustParse("1.0.0"), Artifact: rollout.Artifact{MD5: "md5-10"}, Fingerprint: "fp-10"}
	fx.r11 = &rollout.Release{Platform: "lamp", Version: semver.MustParse("1.1.0"), Artifact: rollout.Artifact{MD5: "md5-11"},
		HaltOnFailure: 0.5, HaltMinDevices: 2, Fingerprint: fingerprint}
	var devs []*rollout.Device
	for i := range 10 {
		devs = append(devs, &rollout.Device{MAC: mac(i), Platform: "lamp"})
	}
	f, err := rollout.NewFleet([]*rollout.Platform{{Name: "lamp", Releases: []*rollout.Release{fx.r10, fx.r11}}}, devs)
	if err != nil {
		fx.t.Fatal(err)
	}
	fx.fleet.Store(f)
}

func mac(i int) rollout.MAC { return rollout.MAC{0x18, 0xFE, 0x34, 0, 0, byte(i)} }

// checkIn decides a request of device i reporting version (and md5) and
// observes it as the HTTP handler does, one minute after the last.
func (fx *trackerFixture) checkIn(i int, version, md5 string) rollout.Decision {
	fx.now = fx.now.Add(time.Minute)
	dec := rollout.Decide(fx.fleet.Load(), rollout.Request{MAC: mac(i), Version: version, SketchMD5: md5, Now: fx.now}, fx.tr)
	c := CheckIn{MAC: mac(i), At: fx.now, Platform: "lamp", Version: version, SketchMD5: md5, FreeSpace: -1, ChipSize: -1,
		Status: 304, Decision: dec.Outcome.String()}
	if dec.Outcome == rollout.Update {
		c.Status, c.Offered = 200, dec.Release.Version.String()
	}
	fx.tr.Observe(c, dec)
	return dec
}

func (fx *trackerFixture) latest(i int) (Result, bool) {
	d, ok := fx.tr.Device(mac(i))
	if !ok || len(d.Outcomes) == 0 {
		return 0, false
	}
	return d.Outcomes[0].Result, true
}

func TestTrackerOutcomes(t *testing.T) {
	fx := newTrackerFixture(t, NewMemory())
	fx.r11.HaltOnFailure = 0 // outcomes only; halts are tested below

	tests := []struct {
		name  string
		steps func(i int)
		want  Result // 0: no outcome
		offer bool   // an offer still pending
	}{
		{"updated: reports the new version", func(i int) {
			fx.checkIn(i, "1.0.0", "")
			fx.checkIn(i, "1.1.0", "")
		}, Success, false},
		{"updated: sketch MD5 is the image's", func(i int) {
			fx.checkIn(i, "1.0.0", "")
			fx.checkIn(i, "1.0.0-custom", "MD5-11")
		}, Success, false},
		{"one failed attempt is not yet a failure", func(i int) {
			fx.checkIn(i, "1.0.0", "")
			fx.checkIn(i, "1.0.0", "")
		}, 0, true},
		{"FailAfter attempts back on the old version fail", func(i int) {
			fx.checkIn(i, "1.0.0", "")
			fx.checkIn(i, "1.0.0", "")
			fx.checkIn(i, "v1.0.0", "")
		}, Failure, true}, // failed, then offered again
		{"failure then success", func(i int) {
			fx.checkIn(i, "1.0.0", "")
			fx.checkIn(i, "1.0.0", "")
			fx.checkIn(i, "1.0.0", "")
			fx.checkIn(i, "1.1.0", "")
		}, Success, false},
		{"flashed with something else: nothing", func(i int) {
			fx.checkIn(i, "1.0.0", "")
			fx.checkIn(i, "0.9.0", "")
		}, 0, true}, // 0.9.0 gets offered 1.1.0 anew
		{"up to date: no offer", func(i int) {
			fx.checkIn(i, "1.1.0", "")
			fx.checkIn(i, "1.1.0", "")
		}, 0, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.steps(i)
			got, ok := fx.latest(i)
			if (tt.want == 0) == ok || (ok && got != tt.want) {
				t.Errorf("latest outcome: got %v (%v), want %v", got, ok, tt.want)
			}
			d, _ := fx.tr.Device(mac(i))
			if (d.Offer != nil) != tt.offer {
				t.Errorf("pending offer: got %+v, want pending=%v", d.Offer, tt.offer)
			}
		})
	}
	// Counts: devices 0, 1, 4 succeeded (4 after a failure); device 3 failed.
	stats := fx.tr.ReleaseStats(fx.r11.ID())
	if len(stats) != 1 || stats[0].Stage != -1 {
		t.Fatalf("stats: %+v", stats)
	}
	if s := stats[0]; s.Offered != 6 || s.Succeeded != 3 || s.Failed != 1 {
		t.Errorf("stats: got %+v, want offered 6, succeeded 3, failed 1", s)
	}
	if got := len(fx.tr.Devices(Filter{Outcome: "failure"})); got != 1 {
		t.Errorf("devices with a failure: %d", got)
	}
	if got := len(fx.tr.Devices(Filter{Outcome: "pending"})); got != 3 {
		t.Errorf("devices with a pending offer: %d", got)
	}
	if got := len(fx.tr.Devices(Filter{Version: "v1.1.0"})); got != 3 {
		t.Errorf("devices on 1.1.0: %d", got)
	}
}

func TestTrackerHaltResumeRestart(t *testing.T) {
	store := NewMemory()
	fx := newTrackerFixture(t, store)
	// Two devices fail: 2 of 2 outcomes, over 50%: halted.
	for _, i := range []int{0, 1} {
		fx.checkIn(i, "1.0.0", "")
		fx.checkIn(i, "1.0.0", "")
		fx.checkIn(i, "1.0.0", "")
	}
	if !fx.tr.Halted(fx.r11) {
		t.Fatal("not halted after 2 of 2 failures")
	}
	if d := fx.checkIn(2, "1.0.0", ""); d.Outcome != rollout.UpToDate || d.Why != rollout.WhyHalted {
		t.Errorf("new device while halted: %v %v", d.Outcome, d.Why)
	}
	h := fx.tr.Halts()
	if len(h) != 1 || h[0].Failed != 2 || h[0].Total != 2 || h[0].Reason == "" {
		t.Errorf("halts: %+v", h)
	}

	// A restart keeps the halt and the counts.
	fx.stopRun()
	fx2 := newTrackerFixture(t, store)
	if !fx2.tr.Halted(fx2.r11) {
		t.Fatal("halt lost on restart")
	}
	if s := fx2.tr.ReleaseStats(fx2.r11.ID()); len(s) != 1 || s[0].Failed != 2 {
		t.Errorf("stats after restart: %+v", s)
	}
	if hist, _ := fx2.tr.History(context.Background(), mac(0), 0); len(hist) != 3 {
		t.Errorf("history of device 0: %d check-ins, want 3", len(hist))
	}

	// Resume: counts start again, so the next failure alone halts nothing.
	if err := fx2.tr.Resume(fx2.r11.ID(), fx2.now); err != nil {
		t.Fatal(err)
	}
	if fx2.tr.Halted(fx2.r11) {
		t.Fatal("halted after resume")
	}
	if err := fx2.tr.Resume(fx2.r11.ID(), fx2.now); err == nil {
		t.Error("second resume: no error")
	}
	fx2.checkIn(0, "1.0.0", "")
	fx2.checkIn(0, "1.0.0", "")
	fx2.checkIn(0, "1.0.0", "")
	if fx2.tr.Halted(fx2.r11) {
		t.Error("halted again by a single failure after resume (min devices 2)")
	}

	// A new halt, then a commit that changes the release clears it.
	fx2.checkIn(1, "1.0.0", "")
	fx2.checkIn(1, "1.0.0", "")
	fx2.checkIn(1, "1.0.0", "")
	if !fx2.tr.Halted(fx2.r11) {
		t.Fatal("not halted again")
	}
	fx2.setFleet("fp-2")
	if fx2.tr.Halted(fx2.r11) {
		t.Error("a changed release is still halted")
	}
	fx2.tr.Reconcile(fx2.fleet.Load())
	if len(fx2.tr.Halts()) != 0 {
		t.Errorf("halts after reconcile: %+v", fx2.tr.Halts())
	}
	// The changed release counts afresh: one failure (of min 2) does not
	// halt it, though the old release's failures were over the threshold.
	fx2.checkIn(4, "1.0.0", "")
	fx2.checkIn(4, "1.0.0", "")
	fx2.checkIn(4, "1.0.0", "")
	if fx2.tr.Halted(fx2.r11) {
		t.Error("the changed release was halted by the old release's failures")
	}
	if s := fx2.tr.ReleaseStats(fx2.r11.ID()); len(s) != 1 || s[0].Failed != 1 || s[0].Offered != 1 {
		t.Errorf("counts after the change: %+v, want 1 offered, 1 failed", s)
	}
}

// checkInFrom is checkIn decided from fleet f instead of the fixture's.
func (fx *trackerFixture) checkInFrom(f *rollout.Fleet, i int, version string) rollout.Decision {
	fx.now = fx.now.Add(time.Minute)
	dec := rollout.Decide(f, rollout.Request{MAC: mac(i), Version: version, Now: fx.now}, fx.tr)
	c := CheckIn{MAC: mac(i), At: fx.now, Platform: "lamp", Version: version, FreeSpace: -1, ChipSize: -1,
		Status: 304, Decision: dec.Outcome.String()}
	if dec.Outcome == rollout.Update {
		c.Status, c.Offered = 200, dec.Release.Version.String()
	}
	fx.tr.Observe(c, dec)
	return dec
}

// TestTrackerHaltsFromDecisionSnapshot: whether failures halt a release is
// decided by the release as the snapshot the failing check-in was decided
// from has it, not by any other fleet.
func TestTrackerHaltsFromDecisionSnapshot(t *testing.T) {
	fx := newTrackerFixture(t, NewMemory())
	halting := fx.fleet.Load() // 1.1.0 halts at 50% over 2 outcomes
	r11 := fx.r11
	fx.setFleet("fp-1")
	fx.r11.HaltOnFailure = 0 // the same release, in a snapshot where it never halts
	calm := fx.fleet.Load()

	for _, i := range []int{0, 1, 2} {
		if d := fx.checkInFrom(halting, i, "1.0.0"); d.Outcome != rollout.Update {
			t.Fatalf("device %d: got %v, want an offer", i, d.Outcome)
		}
	}
	// Devices 0 and 1 fail in check-ins decided from the calm snapshot.
	for _, i := range []int{0, 1} {
		fx.checkInFrom(calm, i, "1.0.0")
		fx.checkInFrom(calm, i, "1.0.0")
	}
	if got, _ := fx.latest(1); got != Failure {
		t.Fatalf("device 1: latest outcome %v, want failure", got)
	}
	if fx.tr.Halted(r11) || len(fx.tr.Halts()) != 0 {
		t.Fatalf("halted by failures decided from a snapshot where the release does not halt: %+v", fx.tr.Halts())
	}
	// Device 2 fails in check-ins decided from the halting snapshot: 3 of 3.
	fx.checkInFrom(halting, 2, "1.0.0")
	fx.checkInFrom(halting, 2, "1.0.0")
	h := fx.tr.Halts()
	if !fx.tr.Halted(r11) || len(h) != 1 || h[0].Failed != 3 || h[0].Total != 3 || h[0].Fingerprint != "fp-1" {
		t.Fatalf("halts: %+v, want 1.1.0 halted with 3 of 3 failures", h)
	}
	if want := "all devices (no stages): 3 of 3 updates failed (100.0%), over the 50% threshold"; h[0].Reason != want {
		t.Errorf("reason: got %q, want %q", h[0].Reason, want)
	}
}

// TestTrackerReconcile: a fleet whose release changed or is gone lifts its
// halt, in memory and in the store; an unchanged release stays halted.
func TestTrackerReconcile(t *testing.T) {
	tests := []struct {
		name  string
		fleet func(fx *trackerFixture) *rollout.Fleet
		kept  bool
	}{
		{"no fleet", func(*trackerFixture) *rollout.Fleet { return nil }, true},
		{"unchanged", func(fx *trackerFixture) *rollout.Fleet { return fx.fleet.Load() }, true},
		{"changed", func(fx *trackerFixture) *rollout.Fleet { fx.setFleet("fp-2"); return fx.fleet.Load() }, false},
		{"removed", func(fx *trackerFixture) *rollout.Fleet {
			f, err := rollout.NewFleet([]*rollout.Platform{{Name: "lamp", Releases: []*rollout.Release{fx.r10}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, false},
		{"platform removed", func(*trackerFixture) *rollout.Fleet {
			f, err := rollout.NewFleet(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := NewMemory()
			fx := newTrackerFixture(t, store)
			for _, i := range []int{0, 1} {
				fx.checkIn(i, "1.0.0", "")
				fx.checkIn(i, "1.0.0", "")
				fx.checkIn(i, "1.0.0", "")
			}
			if len(fx.tr.Halts()) != 1 {
				t.Fatalf("halts before: %+v, want one", fx.tr.Halts())
			}
			fx.tr.Reconcile(tt.fleet(fx))
			if got := len(fx.tr.Halts()) == 1; got != tt.kept {
				t.Errorf("halt kept: got %v, want %v", got, tt.kept)
			}
			fx.stopRun() // saves what is queued
			stored, err := store.Halts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := len(stored) == 1; got != tt.kept {
				t.Errorf("halt kept in the store: got %v (%+v), want %v", got, stored, tt.kept)
			}
		})
	}
}

func TestTrackerHistoryDedup(t *testing.T) {
	store := NewMemory()
	fx := newTrackerFixture(t, store)
	fx.checkIn(5, "1.1.0", "") // stored
	fx.checkIn(5, "1.1.0", "") // same: summary only (LastSeen)
	// Same again from another source port: still the same.
	dec := rollout.Decide(fx.fleet.Load(), rollout.Request{MAC: mac(5), Version: "1.1.0", Now: fx.now}, fx.tr)
	fx.tr.Observe(CheckIn{MAC: mac(5), At: fx.now, Platform: "lamp", Version: "1.1.0", FreeSpace: -1, ChipSize: -1,
		Status: 304, Decision: dec.Outcome.String(), Remote: "10.0.0.9:40001"}, dec)
	fx.tr.Observe(CheckIn{MAC: mac(5), At: fx.now, Platform: "lamp", Version: "1.1.0", FreeSpace: -1, ChipSize: -1,
		Status: 304, Decision: dec.Outcome.String(), Remote: "10.0.0.9:40002"}, dec)
	fx.now = fx.now.Add(time.Hour)
	fx.checkIn(5, "1.1.0", "") // an hour later: stored again
	fx.checkIn(5, "1.2.0", "") // changed: stored
	last := fx.now
	fx.stopRun() // drains: flushes the summary and the queue
	hist, err := store.History(context.Background(), mac(5), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 4 || hist[0].Version != "1.2.0" || hist[0].Reason == "" {
		t.Fatalf("history: %d check-ins %+v, want 4 (new address once), newest 1.2.0 with a reason", len(hist), hist)
	}
	devs, _ := store.LoadDevices(context.Background())
	if len(devs) != 1 || !devs[0].LastSeen.Equal(last) || devs[0].LastVersion != "1.2.0" {
		t.Errorf("saved summary: %+v, want last seen %v", devs, last)
	}
}

func BenchmarkObserve(b *testing.B) {
	store := NewMemory()
	tr, err := NewTracker(context.Background(), TrackerOptions{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	r := &rollout.Release{Platform: "lamp", Version: semver.MustParse("1.0.0")}
	f, _ := rollout.NewFleet([]*rollout.Platform{{Name: "lamp", Releases: []*rollout.Release{r}}}, []*rollout.Device{{MAC: mac(1), Platform: "lamp"}})
	now := time.Now()
	dec := rollout.Decide(f, rollout.Request{MAC: mac(1), Version: "1.0.0", Now: now}, nil)
	c := CheckIn{MAC: mac(1), At: now, Platform: "lamp", Version: "1.0.0", Status: 304, Decision: "up_to_date", Remote: "10.0.0.7:51234"}
	b.ReportAllocs()
	for b.Loop() {
		tr.Observe(c, dec)
	}
}

// TestTrackerReleaseWrittenWithV: a release whose version keeps its "v"
// (as semver.NewVersion reads "v1.1.0") is one release with 1.1.0: its
// failures halt it, and its counts and halt are found by its identity.
func TestTrackerReleaseWrittenWithV(t *testing.T) {
	fx := newTrackerFixture(t, NewMemory())
	fx.r11.Version = semver.MustParse("v1.1.0")
	for _, i := range []int{0, 1} {
		fx.checkIn(i, "1.0.0", "")
		fx.checkIn(i, "1.0.0", "")
		fx.checkIn(i, "1.0.0", "")
	}
	if !fx.tr.Halted(fx.r11) {
		t.Fatalf("not halted after 2 of 2 failures; halts %+v", fx.tr.Halts())
	}
	if d := fx.checkIn(2, "1.0.0", ""); d.Outcome != rollout.UpToDate || d.Why != rollout.WhyHalted {
		t.Errorf("new device while halted: got %v %v, want up_to_date halted", d.Outcome, d.Why)
	}
	id, err := rollout.ParseReleaseID("lamp", "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if s := fx.tr.ReleaseStats(id); len(s) != 1 || s[0].Offered != 2 || s[0].Failed != 2 {
		t.Errorf("stats of %v: %+v, want 2 offered, 2 failed in one stage", id, s)
	}
	if h := fx.tr.Halts(); len(h) != 1 || h[0].Version != "1.1.0" {
		t.Errorf("halts: %+v, want one of version 1.1.0", h)
	}
	// Decide asks for every candidate release, on the request path.
	if n := testing.AllocsPerRun(100, func() { fx.tr.Halted(fx.r11) }); n != 0 {
		t.Errorf("Halted: %v allocations, want 0", n)
	}
}

// TestTrackerNormalisesStoredRecords: records an older version wrote with
// build metadata in their versions name the same releases as before, and
// a halt stored under such a version is stored again under the release's
// identity.
func TestTrackerNormalisesStoredRecords(t *testing.T) {
	store := NewMemory()
	ctx := context.Background()
	at := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	if err := store.PutHalt(ctx, Halt{Platform: "lamp", Version: "1.1.0+build.7", Fingerprint: "fp-1", Stage: -1,
		Failed: 2, Total: 2, Reason: "all devices (no stages): 2 of 2 updates failed (100.0%), over the 50% threshold", At: at}); err != nil {
		t.Fatal(err)
	}
	var devs []Device
	for i := range 3 {
		devs = append(devs, Device{MAC: mac(i), Platform: "lamp", FirstSeen: at, LastSeen: at, LastVersion: "1.0.0",
			Outcomes: []Outcome{{Platform: "lamp", Version: "1.1.0+build.7", FromVersion: "1.0.0", Stage: -1, Result: Failure, At: at}}})
	}
	devs[2].Offer = &Offer{Platform: "lamp", Version: "1.1.0+build.7", FromVersion: "1.0.0", Stage: -1, At: at}
	if err := store.Save(ctx, nil, devs); err != nil {
		t.Fatal(err)
	}
	fx := newTrackerFixture(t, store)
	if !fx.tr.Halted(fx.r11) {
		t.Fatalf("stored halt of 1.1.0+build.7 does not halt 1.1.0; halts %+v", fx.tr.Halts())
	}
	if s := fx.tr.ReleaseStats(fx.r11.ID()); len(s) != 1 || s[0].Offered != 3 || s[0].Failed != 3 {
		t.Errorf("stats: %+v, want 3 offered and failed", s)
	}
	halts, err := store.Halts(ctx)
	if err != nil || len(halts) != 1 || halts[0].Version != "1.1.0" || halts[0].Reason == "" {
		t.Errorf("stored halts: %+v, %v; want the one halt, stored as version 1.1.0", halts, err)
	}
	if err := fx.tr.Resume(fx.r11.ID(), fx.now); err != nil {
		t.Fatal(err)
	}
	fx.stopRun()
	// Restarted, the resumed release stays resumed: no old record is left
	// to halt it again.
	fx2 := newTrackerFixture(t, store)
	if fx2.tr.Halted(fx2.r11) {
		t.Errorf("halted again after a restart; stored %+v", halts)
	}
}

// unreported observes a check-in of device i that reports no version,
// decided from version as the request's client assumed it (a FUOTA or
// esp32FOTA download, a manifest fetched without ?ver=).
func (fx *trackerFixture) unreported(i int, version string, client string) rollout.Decision {
	fx.now = fx.now.Add(time.Minute)
	dec := rollout.Decide(fx.fleet.Load(), rollout.Request{MAC: mac(i), Version: version, Now: fx.now}, fx.tr)
	c := CheckIn{MAC: mac(i), At: fx.now, Platform: "lamp", FreeSpace: -1, ChipSize: -1,
		Status: 200, Decision: dec.Outcome.String(), Client: client}
	if dec.Outcome == rollout.Update {
		c.Offered = dec.Release.Version.String()
	}
	fx.tr.Observe(c, dec)
	return dec
}

// TestTrackerUnreportedVersion: check-ins that report no version offer
// (when they send an image) but resolve nothing, and keep the version
// last reported: a FUOTA device asks /devices/ with its version, then
// downloads from /files/, and only the first must count toward a
// failure.
func TestTrackerUnreportedVersion(t *testing.T) {
	store := NewMemory()
	fx := newTrackerFixture(t, store)
	// FUOTA: /devices/ reports 1.0.0, /files/ sends 1.1.0; twice, back on
	// 1.0.0 each time; FailAfter is 2.
	fx.checkIn(1, "1.0.0", "")
	fx.unreported(1, "1.0.0", "fuota")
	d, _ := fx.tr.Device(mac(1))
	if d.Offer == nil || d.Offer.Version != "1.1.0" || d.Offer.FromVersion != "1.0.0" || d.LastVersion != "1.0.0" {
		t.Fatalf("after a download: offer %+v, last version %q", d.Offer, d.LastVersion)
	}
	fx.checkIn(1, "1.0.0", "")
	fx.unreported(1, "1.0.0", "fuota")
	if d, _ := fx.tr.Device(mac(1)); d.Offer == nil || d.Offer.Attempts != 1 || len(d.Outcomes) != 0 {
		t.Fatalf("downloads counted as check-ins: offer %+v, outcomes %+v", d.Offer, d.Outcomes)
	}
	fx.checkIn(1, "1.0.0", "")
	if res, ok := fx.latest(1); !ok || res != Failure {
		t.Errorf("after two reports of the old version: %v %v, want a failure", res, ok)
	}

	// A device that never reports: offered, never resolved, no version.
	for range 5 {
		fx.unreported(2, "1.0.0", "esp32fota")
	}
	d, _ = fx.tr.Device(mac(2))
	if d.Offer == nil || len(d.Outcomes) != 0 || d.LastVersion != "" {
		t.Errorf("never reported: offer %+v, outcomes %+v, last version %q", d.Offer, d.Outcomes, d.LastVersion)
	}
	fx.stopRun() // drains the queue
	hist, err := store.History(context.Background(), mac(2), 0)
	if err != nil || len(hist) == 0 || hist[0].Client != "esp32fota" {
		t.Errorf("history of device 2: %+v, want esp32fota check-ins", hist)
	}
}
