package dashboard

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/internal/testwait"
	"github.com/otagit/otagit/rollout"
)

// t0 is when the fixture's lamp 1.1.0 was introduced.
var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// fixture is a fleet of lamps and plugs, a real tracker over a Memory
// store, check-ins fed to it as the device handler would, and the
// dashboard over both.
//
// lamp: 1.0.0; 1.1.0 staged 10% at t0, 50% after 1 day, 100% after 2
// days; 1.2.0 staged from t0+3 days, not started until then. plug: 2.0.0;
// 2.1.0 for everyone, halting at 20% failures over 3 outcomes. Every
// seventh lamp and every third plug fails its updates: it downloads, and
// comes back on the old version.
type fixture struct {
	tb      testing.TB
	fleet   *rollout.Fleet
	devs    []*rollout.Device
	running []string
	tracker *checkin.Tracker
	status  gitstore.Status
	now     atomic.Pointer[time.Time]
	dash    *Dashboard
	router  *mux.Router
}

type fixedSnapshots struct{ s *gitstore.Snapshot }

func (f fixedSnapshots) Current() *gitstore.Snapshot { return f.s }

type fixedStatus struct{ st *gitstore.Status }

func (f fixedStatus) Status() gitstore.Status { return *f.st }

func rel(tb testing.TB, platform, version string, introduced time.Time, stages ...rollout.Stage) *rollout.Release {
	v, err := rollout.ParseReleaseVersion(version)
	if err != nil {
		tb.Fatal(err)
	}
	return &rollout.Release{Platform: platform, Version: v, IntroducedAt: introduced, IntroducedIn: "c0ffee" + version,
		Stages: stages, Fingerprint: platform + version,
		Artifact: rollout.Artifact{Source: rollout.Source{Path: "firmware/" + platform + "-" + version + ".bin"}, Size: 400_000,
			MD5: fmt.Sprintf("%032x", len(platform)*1000+len(version)), SHA256: "ab"}}
}

func newFixture(tb testing.TB, lamps, plugs int) *fixture {
	tb.Helper()
	fx := &fixture{tb: tb}
	day := 24 * time.Hour
	l11 := rel(tb, "lamp", "1.1.0", t0, rollout.Stage{Percent: 10}, rollout.Stage{Percent: 50, After: day}, rollout.Stage{Percent: 100, After: 2 * day})
	l12 := rel(tb, "lamp", "1.2.0", t0.Add(3*day), rollout.Stage{Percent: 20}, rollout.Stage{Percent: 100, After: day})
	p21 := rel(tb, "plug", "2.1.0", t0)
	p21.HaltOnFailure, p21.HaltMinDevices = 0.2, 3
	platforms := []*rollout.Platform{
		{Name: "lamp", Chip: "esp8266", Description: "Desk and floor lamps", Releases: []*rollout.Release{rel(tb, "lamp", "1.0.0", t0.Add(-30*day)), l11, l12}},
		{Name: "plug", Chip: "esp32c3", Releases: []*rollout.Release{rel(tb, "plug", "2.0.0", t0.Add(-10*day)), p21}},
	}
	for i := range lamps + plugs {
		d := &rollout.Device{MAC: rollout.MAC{0x18, 0xFE, 0x34, byte(i >> 16), byte(i >> 8), byte(i)}, Platform: "lamp", Name: fmt.Sprintf("lamp %04d", i)}
		if i >= lamps {
			d.Platform, d.Name = "plug", fmt.Sprintf("plug %04d", i)
		}
		fx.devs = append(fx.devs, d)
		fx.running = append(fx.running, map[string]string{"lamp": "1.0.0", "plug": "2.0.0"}[d.Platform])
	}
	var err error
	if fx.fleet, err = rollout.NewFleet(platforms, fx.devs); err != nil {
		tb.Fatal(err)
	}
	fx.tracker, err = checkin.NewTracker(context.Background(), checkin.TrackerOptions{
		Store: checkin.NewMemory(), FailAfter: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fx.tracker.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })

	snap := &gitstore.Snapshot{Commit: "0123456789abcdef0123456789abcdef01234567", Subject: "lamp 1.2.0 from March 5",
		Author: "Ada", CommitTime: t0, PublishedAt: t0.Add(time.Minute), Fleet: fx.fleet}
	fx.status = gitstore.Status{Repo: "https://github.com/acme/fleet.git", Branch: "main", Commit: snap.Commit, Subject: snap.Subject,
		Author: snap.Author, CommitTime: snap.CommitTime, PublishedAt: snap.PublishedAt, SyncedAt: t0, Syncs: 3}
	start := t0
	fx.now.Store(&start)
	cfg := Config{Snapshots: fixedSnapshots{snap}, Status: fixedStatus{&fx.status},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return *fx.now.Load() }}
	cfg.UseTracker(fx.tracker)
	fx.dash = New(cfg)
	fx.router = mux.NewRouter()
	fx.dash.Register(fx.router)
	return fx
}

// fails says whether device i fails its updates: one lamp in seven, one
// plug in three.
func (fx *fixture) fails(i int) bool {
	if fx.devs[i].Platform == "plug" {
		return i%3 == 0
	}
	return i%7 == 3
}

// poll makes device i check in at time at, as the /update handler would
// record it, and flash what it is offered unless it fails its updates.
func (fx *fixture) poll(i int, at time.Time) {
	dev := fx.devs[i]
	dec := rollout.Decide(fx.fleet, rollout.Request{MAC: dev.MAC, Version: fx.running[i], Now: at}, fx.tracker)
	c := checkin.CheckIn{MAC: dev.MAC, At: at, Platform: dec.Platform.Name, Version: fx.running[i], FreeSpace: 1 << 20, ChipSize: 4 << 20,
		Remote: "192.0.2.7:4000", Status: http.StatusNotModified, Decision: dec.Outcome.String()}
	if dec.Outcome == rollout.Update {
		c.Status, c.Offered = http.StatusOK, dec.Release.Version.String()
		if !fx.fails(i) {
			fx.running[i] = c.Offered
		}
	}
	fx.tracker.Observe(c, dec)
}

// simulate polls every device every period from t0 until end, and sets
// the dashboard's clock to end.
func (fx *fixture) simulate(end time.Time, period time.Duration) {
	for at := t0; at.Before(end); at = at.Add(period) {
		for i := range fx.devs {
			// Spread the polls over the period, as a fleet does.
			fx.poll(i, at.Add(time.Duration(i)*period/time.Duration(len(fx.devs))))
		}
	}
	fx.now.Store(&end)
}

// settle waits until the tracker has saved every check-in, so that
// device history is complete.
func (fx *fixture) settle() {
	fx.tb.Helper()
	testwait.ForProgress(fx.tb, "the tracker to save every check-in", func() bool { return fx.tracker.WriterStats().Queued == 0 },
		func() uint64 { return fx.tracker.WriterStats().Saved })
}

// get serves a GET of target and returns the response and body.
func (fx *fixture) get(target string) (*http.Response, string) {
	fx.tb.Helper()
	w := httptest.NewRecorder()
	fx.router.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	res := w.Result()
	return res, w.Body.String()
}

// rejectCommit makes the status report a rejected commit.
func (fx *fixture) rejectCommit() {
	fx.status.RejectedCommit = "fedcba9876543210fedcba9876543210fedcba98"
	fx.status.LastError = "commit fedcba987654 rejected: 2 errors"
	fx.status.LastErrorAt = t0
	fx.status.Problems = config.Problems{
		{File: "platforms/lamp.toml", Line: 12, Key: "release[2].version", Message: `"1.3" is not a semantic version`},
		{File: "devices/office.toml", Line: 3, Key: "device[0].mac", Message: `"18:FE:34" is not a MAC address`},
	}
}
