package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/rollout"
)

// simClock is a settable clock.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *simClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// meterArtifact is the meter 2.0.0 ESP32 image, built in dir, that the
// simulations' releases share. Its MD5 is none a device reports, so only
// the version a device reports settles an offer.
func meterArtifact(t testing.TB, dir string) rollout.Artifact {
	t.Helper()
	img, err := espimage.Build(espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "meter", Version: "2.0.0", Size: 8192})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "meter-2.0.0.bin")
	if err := os.WriteFile(file, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return rollout.Artifact{Source: rollout.Source{Path: "fw/meter-2.0.0.bin"}, File: file, Size: int64(len(img)), MD5: "ffffffffffffffffffffffffffffffff", SHA256: "ab"}
}

// meterFleet is the meter platform (ESP32) with releases rels and n
// whitelisted devices, 24:0A:C4:id:i>>8:i for the i-th.
func meterFleet(t testing.TB, id byte, n int, rels ...*rollout.Release) (*rollout.Fleet, []*rollout.Device) {
	t.Helper()
	var devs []*rollout.Device
	for i := range n {
		devs = append(devs, &rollout.Device{MAC: rollout.MAC{0x24, 0x0A, 0xC4, id, byte(i >> 8), byte(i)}, Platform: "meter"})
	}
	fleet, err := rollout.NewFleet([]*rollout.Platform{{Name: "meter", Chip: "esp32", Releases: rels}}, devs)
	if err != nil {
		t.Fatal(err)
	}
	return fleet, devs
}

// runTracker returns a tracker on opts, logging nowhere unless
// opts.Logger says otherwise, that runs until t ends.
func runTracker(t testing.TB, opts checkin.TrackerOptions) *checkin.Tracker {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	tr, err := checkin.NewTracker(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return tr
}

// TestSimulatedStagedRolloutHalts: 1,000 devices on a fake clock poll
// hourly through a three-stage rollout of 2.0.0 (10% at once, 50% after
// 24 h, 100% after 72 h, halt at 5% failures over at least 20 outcomes).
// One device in ten never applies the update: it downloads, reboots and
// comes back on 1.0.0. The release must halt in stage 1, offer nothing
// more in stages 2 and 3, and the release API must show the counts.
func TestSimulatedStagedRolloutHalts(t *testing.T) {
	const devices = 1000
	sim := newReplicaSim(t)
	t0, fleet, devs := sim.t0, sim.fleet, sim.devs
	clock := &simClock{now: t0}
	tracker := runTracker(t, checkin.TrackerOptions{Store: checkin.NewMemory(), FailAfter: 3})

	r := mux.NewRouter()
	New(Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Fleet: fleet}}, Halts: tracker, Recorder: tracker, Devices: tracker, Releases: tracker, Resumer: tracker, Recording: tracker, AdminToken: "adm1n",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock.Now}).Register(r)

	// Device state: the version it runs; broken devices never change.
	running := make([]string, devices)
	broken := make([]bool, devices)
	for i := range running {
		running[i] = "1.0.0"
		broken[i] = i%10 == 3
	}
	poll := func(i int) int {
		req := httptest.NewRequest("GET", "/update", nil)
		req.Header = esp32Headers(devs[i].MAC.String(), running[i])
		// Each device its own address, as on a LAN: one address moves
		// the counts of only checkin.DefaultAddressMACs devices an hour.
		req.RemoteAddr = fmt.Sprintf("10.0.%d.%d:40000", i>>8, i&255)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code == 200 && !broken[i] {
			running[i] = "2.0.0" // flashed and rebooted
		}
		return rec.Code
	}
	release := func() releaseDetail {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest("GET", "/api/releases/meter/2.0.0", nil))
		var d releaseDetail
		if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
			t.Fatalf("release API: %v: %s", err, rec.Body.String())
		}
		return d
	}

	haltedAt := time.Duration(-1)
	offeredAfterHalt := 0
	for hour := 0; hour < 96; hour++ {
		halted := release().Halted
		for i := range devices {
			if poll(i) == 200 && halted {
				offeredAfterHalt++
			}
		}
		if release().Halted && haltedAt < 0 {
			haltedAt = time.Duration(hour) * time.Hour
		}
		clock.Add(time.Hour)
	}

	d := release()
	if !d.Halted || d.Halt == nil {
		t.Fatalf("release not halted: %+v", d)
	}
	if d.Halt.Stage != 0 {
		t.Errorf("halted in stage %d, want stage 0 (the 10%% stage)", d.Halt.Stage)
	}
	if haltedAt < 0 || haltedAt >= 24*time.Hour {
		t.Errorf("halted after %v, want within stage 1 (the first 24 h)", haltedAt)
	}
	if offeredAfterHalt != 0 {
		t.Errorf("%d offers after the halt, want 0", offeredAfterHalt)
	}
	if len(d.Counts) != 1 || d.Counts[0].Stage != 0 {
		t.Fatalf("counts: got %+v, want stage 0 only (nothing offered in later stages)", d.Counts)
	}
	c := d.Counts[0]
	// Stage 1 is ~10% of 1,000 devices; a tenth of those are broken.
	if c.Offered < 70 || c.Offered > 130 || c.Succeeded+c.Failed > c.Offered || c.Failed < 5 {
		t.Errorf("stage 1 counts: %+v", c)
	}
	if rate := c.FailureRate(); rate < 0.05 {
		t.Errorf("failure rate at halt %.3f, want >= 5%%", rate)
	}
	if d.Halt.Failed != c.Failed && d.Halt.Total > c.Succeeded+c.Failed {
		t.Errorf("halt record %+v inconsistent with counts %+v", d.Halt, c)
	}
	t.Logf("halted after %v in stage %d: %s; counts %+v", haltedAt, d.Halt.Stage+1, d.Halt.Reason, c)

	// The device API shows a failed device's outcome and the reason it gets now.
	var failed int = -1
	for i := range devices {
		if broken[i] && lastFailed(tracker, devs[i].MAC) {
			failed = i
			break
		}
	}
	if failed < 0 {
		t.Fatal("no broken device has a failure outcome")
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/api/devices/"+devs[failed].MAC.String(), nil))
	var dd deviceDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &dd); err != nil || dd.Now == nil {
		t.Fatalf("device API: %v %s", err, rec.Body.String())
	}
	if dd.Now.Reason != "2.0.0 is halted" || dd.Now.Status != 304 || dd.Summary.Outcomes[0].Result != checkin.Failure {
		t.Errorf("device API: decision %+v, outcome %+v", dd.Now, dd.Summary.Outcomes)
	}
	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/api/devices?outcome=failure", nil))
	var list struct{ Total int }
	json.Unmarshal(rec.Body.Bytes(), &list)
	if list.Total != c.Failed {
		t.Errorf("devices with a failure: %d, counts say %d", list.Total, c.Failed)
	}

	// An operator resumes the release: offers start again (stage 3 now).
	resume := func(token string) int {
		req := httptest.NewRequest("POST", "/api/releases/meter/2.0.0/resume", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec.Code
	}
	if got := resume(""); got != http.StatusUnauthorized {
		t.Errorf("resume without token: %d", got)
	}
	if got := resume("wrong"); got != http.StatusUnauthorized {
		t.Errorf("resume with a wrong token: %d", got)
	}
	if got := resume("adm1n"); got != http.StatusOK {
		t.Fatalf("resume: %d", got)
	}
	if got := resume("adm1n"); got != http.StatusConflict {
		t.Errorf("second resume: %d, want 409", got)
	}
	if release().Halted {
		t.Fatal("still halted after resume")
	}
	healthy := -1
	for i := range devices {
		if !broken[i] && running[i] == "1.0.0" {
			healthy = i
			break
		}
	}
	if got := poll(healthy); got != 200 {
		t.Errorf("after resume a device that never had 2.0.0 gets %d, want 200", got)
	}
}

// lastFailed reports whether the device's latest outcome is a failure.
func lastFailed(tr *checkin.Tracker, mac rollout.MAC) bool {
	d, ok := tr.Device(mac)
	return ok && len(d.Outcomes) > 0 && d.Outcomes[0].Result == checkin.Failure
}
