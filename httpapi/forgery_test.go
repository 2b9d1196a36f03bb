package httpapi

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/rollout"
)

// TestForgedCheckInsDoNotHalt: "three curls halted a release". Someone
// who knows whitelisted MACs, without credentials, downloads the release
// for each and reports the old version again, from one address: as fast
// as curl goes, then a minute apart for an hour, for every device of the
// fleet. Nothing halts: check-ins closer than checkin.DefaultAttemptGap
// count once, and one address settles at most
// checkin.DefaultAddressMACs devices an hour, under the 20 outcomes the
// release needs. (TestSimulatedStagedRolloutHalts: real failures of
// devices on their own addresses still halt it.)
func TestForgedCheckInsDoNotHalt(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	clock := &simClock{now: t0}
	art := meterArtifact(t, t.TempDir())
	v1 := &rollout.Release{Platform: "meter", Version: semver.MustParse("1.0.0"), Artifact: art, HaltMinDevices: 20, Fingerprint: "v1"}
	v2 := &rollout.Release{Platform: "meter", Version: semver.MustParse("2.0.0"), Artifact: art, IntroducedAt: t0,
		HaltOnFailure: 0.05, HaltMinDevices: 20, Fingerprint: "v2"}
	fleet, devs := meterFleet(t, 0x02, 100, v1, v2)
	tracker := runTracker(t, checkin.TrackerOptions{Store: checkin.NewMemory(), FailAfter: 3})
	r := mux.NewRouter()
	New(Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Fleet: fleet}}, Halts: tracker, Recorder: tracker,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock.Now}).Register(r)
	curl := func(i int) int {
		req := httptest.NewRequest("GET", "/update", nil)
		req.Header = esp32Headers(devs[i].MAC.String(), "1.0.0")
		req.RemoteAddr = "203.0.113.9:50000"
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec.Code
	}
	offered := 0
	for i := range devs { // as fast as curl: all at one instant
		for k := range 4 {
			if curl(i) == 200 && k == 0 {
				offered++
			}
		}
	}
	if offered != len(devs) || tracker.Halted(v2) {
		t.Fatalf("%d of %d offered; halted %v", offered, len(devs), tracker.Halted(v2))
	}
	for range 59 { // then a minute apart, for an hour
		clock.Add(time.Minute)
		for i := range devs {
			curl(i)
		}
	}
	st := tracker.ReleaseStats(v2.ID())
	failed := 0
	for _, s := range st {
		failed += s.Failed
	}
	if tracker.Halted(v2) || failed != checkin.DefaultAddressMACs {
		t.Fatalf("halted %v with %d failures from one address in an hour, want not halted and %d", tracker.Halted(v2), failed, checkin.DefaultAddressMACs)
	}
}
