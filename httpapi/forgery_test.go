package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/espimage"
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
	img, err := espimage.Build(espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "meter", Version: "2.0.0", Size: 8192})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "meter-2.0.0.bin")
	os.WriteFile(file, img, 0o644)
	art := rollout.Artifact{Source: rollout.Source{Path: "fw/meter-2.0.0.bin"}, File: file, Size: int64(len(img)), MD5: "ffffffffffffffffffffffffffffffff", SHA256: "ab"}
	v1 := &rollout.Release{Platform: "meter", Version: semver.MustParse("1.0.0"), Artifact: art, HaltMinDevices: 20, Fingerprint: "v1"}
	v2 := &rollout.Release{Platform: "meter", Version: semver.MustParse("2.0.0"), Artifact: art, IntroducedAt: t0,
		HaltOnFailure: 0.05, HaltMinDevices: 20, Fingerprint: "v2"}
	var devs []*rollout.Device
	for i := range 100 {
		devs = append(devs, &rollout.Device{MAC: rollout.MAC{0x24, 0x0A, 0xC4, 0x02, 0, byte(i)}, Platform: "meter"})
	}
	fleet, err := rollout.NewFleet([]*rollout.Platform{{Name: "meter", Chip: "esp32", Releases: []*rollout.Release{v1, v2}}}, devs)
	if err != nil {
		t.Fatal(err)
	}
	tracker, err := checkin.NewTracker(context.Background(), checkin.TrackerOptions{
		Store: checkin.NewMemory(), FailAfter: 3, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tracker.Run(ctx) }()
	defer func() { cancel(); <-done }()
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
