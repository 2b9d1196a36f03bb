package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
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

// TestReleaseIdentity: however a release's version is written (a "v",
// build metadata) and however a URL names it, its halt stops offers, and
// the release API and resume find its halt and counts.
func TestReleaseIdentity(t *testing.T) {
	img, err := espimage.Build(espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "lamp", Version: "1.1.0", Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "lamp.bin")
	if err := os.WriteFile(file, img, 0o644); err != nil {
		t.Fatal(err)
	}
	art := rollout.Artifact{Source: rollout.Source{Path: "fw/lamp.bin"}, File: file, Size: int64(len(img)), MD5: "ffffffffffffffffffffffffffffffff", SHA256: "ab"}
	tests := []struct {
		written string // the release's version as its source wrote it
		url     string // the version as the operator's URLs name it
	}{
		{"v1.1.0", "v1.1.0"},
		{"v1.1.0", "1.1.0"},
		{"1.1.0+build.7", "1.1.0+build"},
		{"1.1.0+build.7", "1.1"},
		{"V1.1.0+build.7", "V1.1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.written+" as "+tt.url, func(t *testing.T) {
			// semver.NewVersion keeps a "v" in Original, as a release
			// source that does not use ParseReleaseVersion might.
			v, err := semver.NewVersion(tt.written)
			if err != nil {
				v, err = rollout.ParseReleaseVersion(tt.written)
			}
			if err != nil {
				t.Fatal(err)
			}
			r10 := &rollout.Release{Platform: "lamp", Version: semver.MustParse("1.0.0"), Artifact: art, Fingerprint: "fp-10"}
			r11 := &rollout.Release{Platform: "lamp", Version: v, Artifact: art, HaltOnFailure: 0.5, HaltMinDevices: 2, Fingerprint: "fp-11"}
			var devs []*rollout.Device
			for i := range 3 {
				devs = append(devs, &rollout.Device{MAC: rollout.MAC{0x18, 0xFE, 0x34, 0, 0, byte(i)}, Platform: "lamp"})
			}
			fleet, err := rollout.NewFleet([]*rollout.Platform{{Name: "lamp", Chip: "esp8266", Releases: []*rollout.Release{r10, r11}}}, devs)
			if err != nil {
				t.Fatal(err)
			}
			tracker := runTracker(t, checkin.TrackerOptions{Store: checkin.NewMemory(), FailAfter: 3})
			h := mux.NewRouter()
			// Devices that poll a minute apart: faster check-ins move no
			// counts (checkin.DefaultAttemptGap).
			clock := &simClock{now: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}
			New(Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Fleet: fleet}}, Halts: tracker, Recorder: tracker, Devices: tracker, Releases: tracker, Resumer: tracker, Recording: tracker, AdminToken: "adm1n",
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock.Now}).Register(h)
			poll := func(i int, version string) int {
				clock.Add(time.Minute)
				req := httptest.NewRequest("GET", "/update", nil)
				req.Header = esp8266Headers(devs[i].MAC.String(), version)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec.Code
			}
			release := func() releaseDetail {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/releases/lamp/"+tt.url, nil))
				var d releaseDetail
				if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || rec.Code != http.StatusOK {
					t.Fatalf("release API: %d %v: %s", rec.Code, err, rec.Body.String())
				}
				return d
			}

			// Devices 0 and 1 download the release and come back on 1.0.0
			// three times: two failures of two, over 50%.
			for _, i := range []int{0, 1} {
				if got := poll(i, "1.0.0"); got != http.StatusOK {
					t.Fatalf("device %d: got %d, want the release (200)", i, got)
				}
				for range 3 {
					poll(i, "1.0.0")
				}
			}
			if !tracker.Halted(r11) {
				t.Fatalf("release %s not halted after 2 of 2 failures; halts %+v", tt.written, tracker.Halts())
			}
			if got := poll(2, "1.0.0"); got != http.StatusNotModified {
				t.Errorf("a new device while the release is halted: got %d, want 304", got)
			}
			d := release()
			if !d.Halted || d.Halt == nil || d.Halt.Failed != 2 {
				t.Errorf("release API: halted %v, halt %+v; want halted with 2 failures", d.Halted, d.Halt)
			}
			if len(d.Counts) != 1 || d.Counts[0].Failed != 2 || d.Counts[0].Offered != 2 || d.Totals.Failed != 2 {
				t.Errorf("release API counts: %+v, totals %+v; want 2 offered, 2 failed", d.Counts, d.Totals)
			}

			req := httptest.NewRequest("POST", "/api/releases/lamp/"+tt.url+"/resume", nil)
			req.Header.Set("Authorization", "Bearer adm1n")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("resume: got %d %s, want 200", rec.Code, rec.Body.String())
			}
			var doc map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc["release"] != "lamp@1.1.0" {
				t.Errorf("resume answer: %s, want release lamp@1.1.0", rec.Body.String())
			}
			if tracker.Halted(r11) || release().Halted {
				t.Error("still halted after resume")
			}
			if got := poll(2, "1.0.0"); got != http.StatusOK {
				t.Errorf("a new device after resume: got %d, want 200", got)
			}
		})
	}
}
