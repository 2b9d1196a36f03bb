package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	dto "github.com/prometheus/client_model/go"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/githubapi"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/rollout"
)

type fakeStore struct {
	st   gitstore.Status
	snap *gitstore.Snapshot
}

func (f *fakeStore) Status() gitstore.Status     { return f.st }
func (f *fakeStore) Current() *gitstore.Snapshot { return f.snap }

type fakeTracker struct {
	halts []checkin.Halt
	stats map[rollout.ReleaseID][]rollout.StageCounts
	ws    checkin.WriterStats
	info  checkin.StoreInfo
}

func (f *fakeTracker) Halts() []checkin.Halt { return f.halts }
func (f *fakeTracker) ReleaseStats(id rollout.ReleaseID) []rollout.StageCounts {
	return f.stats[id]
}
func (f *fakeTracker) WriterStats() checkin.WriterStats { return f.ws }
func (f *fakeTracker) StoreInfo() checkin.StoreInfo     { return f.info }

type fakeGitHub githubapi.APIStats

func (f fakeGitHub) APIStats() githubapi.APIStats { return githubapi.APIStats(f) }

// value returns the value of the series name{labels}, and whether the
// registry exports it.
func value(t *testing.T, m *Metrics, name string, labels ...string) (float64, bool) {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range s.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if len(got) != len(want) {
				continue
			}
			for k, v := range want {
				if got[k] != v {
					continue series
				}
			}
			return metricValue(s), true
		}
	}
	return 0, false
}

func metricValue(s *dto.Metric) float64 {
	switch {
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	}
	return 0
}

func mustValue(t *testing.T, m *Metrics, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := value(t, m, name, labels...)
	if !ok {
		t.Errorf("%s%v: not exported", name, labels)
	} else if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func lampFleet(t *testing.T) (*rollout.Fleet, *rollout.Release) {
	rel := &rollout.Release{Platform: "lamp", Version: semver.MustParse("1.1.0"),
		Stages: []rollout.Stage{{Percent: 10}, {Percent: 100, After: 48 * time.Hour}}}
	p := &rollout.Platform{Name: "lamp", Releases: []*rollout.Release{rel}}
	f, err := rollout.NewFleet([]*rollout.Platform{p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f, rel
}

func TestDeviceRequests(t *testing.T) {
	fleet, rel := lampFleet(t)
	m := New(Sources{})
	lamp := fleet.Platform("lamp")
	held := &rollout.Decision{Outcome: rollout.UpToDate, Why: rollout.WhyNotInCohort, Platform: lamp, Held: rel}
	for range 3 {
		m.DeviceRequest("update", 304, held)
	}
	m.DeviceRequest("update", 304, &rollout.Decision{Outcome: rollout.UpToDate, Why: rollout.WhyHalted, Platform: lamp})
	m.DeviceRequest("esp32fota", 200, &rollout.Decision{Outcome: rollout.Update, Why: rollout.WhyNewer, Platform: lamp})
	m.DeviceRequest("update", 404, &rollout.Decision{Outcome: rollout.UnknownPlatform, Why: rollout.WhyUnknownPlatform})
	m.DeviceRequest("update", 400, nil)
	m.DownloadStarted()
	m.DownloadStarted()
	m.DownloadEnded(1000)

	mustValue(t, m, 3, "otagit_device_requests_total", "endpoint", "update", "status", "304", "decision", "up_to_date", "reason", "not_in_cohort", "platform", "lamp")
	mustValue(t, m, 1, "otagit_device_requests_total", "endpoint", "update", "status", "304", "decision", "up_to_date", "reason", "halted", "platform", "lamp")
	mustValue(t, m, 1, "otagit_device_requests_total", "endpoint", "esp32fota", "status", "200", "decision", "update", "reason", "newer", "platform", "lamp")
	mustValue(t, m, 1, "otagit_device_requests_total", "endpoint", "update", "status", "404", "decision", "unknown_platform", "reason", "unknown_platform", "platform", "unknown")
	mustValue(t, m, 1, "otagit_device_requests_total", "endpoint", "update", "status", "400", "decision", "none", "reason", "malformed", "platform", "unknown")
	mustValue(t, m, 1, "otagit_device_downloads_in_flight")
	mustValue(t, m, 1000, "otagit_device_bytes_sent_total")
}

// TestPlatformCap: platforms beyond MaxPlatforms share one label value,
// and requests of a capped platform are still counted.
func TestPlatformCap(t *testing.T) {
	m := New(Sources{})
	for i := range MaxPlatforms + 10 {
		p := &rollout.Platform{Name: fmt.Sprintf("p%03d", i)}
		m.DeviceRequest("update", 304, &rollout.Decision{Outcome: rollout.UpToDate, Why: rollout.WhyLatest, Platform: p})
		m.DeviceRequest("update", 304, &rollout.Decision{Outcome: rollout.UpToDate, Why: rollout.WhyLatest, Platform: p})
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	platforms := map[string]bool{}
	for _, f := range fams {
		if f.GetName() == "otagit_device_requests_total" {
			for _, s := range f.GetMetric() {
				for _, l := range s.GetLabel() {
					if l.GetName() == "platform" {
						platforms[l.GetValue()] = true
					}
				}
			}
		}
	}
	if len(platforms) != MaxPlatforms+1 || !platforms["other"] {
		t.Errorf("got %d platform label values (other: %v), want %d", len(platforms), platforms["other"], MaxPlatforms+1)
	}
	mustValue(t, m, 20, "otagit_device_requests_total", "endpoint", "update", "status", "304", "decision", "up_to_date", "reason", "latest", "platform", "other")
	mustValue(t, m, 2, "otagit_device_requests_total", "endpoint", "update", "status", "304", "decision", "up_to_date", "reason", "latest", "platform", "p000")
}

// TestDeviceRequestAllocs: the request path's counter allocates nothing
// once its series exists.
func TestDeviceRequestAllocs(t *testing.T) {
	fleet, _ := lampFleet(t)
	m := New(Sources{})
	dec := &rollout.Decision{Outcome: rollout.UpToDate, Why: rollout.WhyLatest, Platform: fleet.Platform("lamp")}
	m.DeviceRequest("update", 304, dec)
	if n := testing.AllocsPerRun(1000, func() { m.DeviceRequest("update", 304, dec) }); n != 0 {
		t.Errorf("DeviceRequest allocates %v times per call, want 0", n)
	}
}

func TestStateAtScrape(t *testing.T) {
	fleet, rel := lampFleet(t)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	store := &fakeStore{
		st: gitstore.Status{Commit: "abc123", Branch: "main", Syncs: 7, SyncedAt: now.Add(-90 * time.Second),
			SyncDuration: 1500 * time.Millisecond, LastError: "commit def456 rejected", RejectedCommit: "def456",
			GitHubError: "rate limited"},
		snap: &gitstore.Snapshot{Fleet: fleet},
	}
	tracker := &fakeTracker{
		halts: []checkin.Halt{{Platform: "lamp", Version: "1.1.0"}},
		stats: map[rollout.ReleaseID][]rollout.StageCounts{rel.ID(): {{Stage: 0, Offered: 10, Succeeded: 6, Failed: 3}}},
		ws:    checkin.WriterStats{Queued: 4, Saved: 100, Dropped: 2, Failures: 1},
	}
	m := New(Sources{Store: store, Tracker: tracker, GitHub: fakeGitHub{Requests: 9, Errors: 2, RateLimitRemaining: 4321},
		Handlers: func() int64 { return 5 }, Now: func() time.Time { return now }})

	mustValue(t, m, 1, "otagit_serving_commit_info", "commit", "abc123", "branch", "main")
	mustValue(t, m, 7, "otagit_sync_attempts_total")
	mustValue(t, m, 0, "otagit_sync_ok")
	mustValue(t, m, 1.5, "otagit_sync_duration_seconds")
	mustValue(t, m, 90, "otagit_sync_seconds_since_success")
	mustValue(t, m, float64(now.Add(-90*time.Second).Unix()), "otagit_sync_last_success_timestamp_seconds")
	mustValue(t, m, 1, "otagit_commit_rejected")
	mustValue(t, m, 1, "otagit_rejected_commit_info", "commit", "def456")
	mustValue(t, m, 1, "otagit_github_degraded")
	mustValue(t, m, 9, "otagit_github_api_requests_total")
	mustValue(t, m, 2, "otagit_github_api_errors_total")
	mustValue(t, m, 4321, "otagit_github_rate_limit_remaining")
	mustValue(t, m, 1, "otagit_release_halted", "platform", "lamp", "version", "1.1.0")
	mustValue(t, m, 1, "otagit_releases_halted")
	mustValue(t, m, 10, "otagit_release_stage_devices", "platform", "lamp", "version", "1.1.0", "stage", "1", "state", "offered")
	mustValue(t, m, 6, "otagit_release_stage_devices", "platform", "lamp", "version", "1.1.0", "stage", "1", "state", "succeeded")
	mustValue(t, m, 3, "otagit_release_stage_devices", "platform", "lamp", "version", "1.1.0", "stage", "1", "state", "failed")
	mustValue(t, m, 4, "otagit_checkin_queue_depth")
	if _, ok := value(t, m, "otagit_checkin_store_up"); ok {
		t.Error("otagit_checkin_store_up for a store that is never unreachable")
	}
	for _, c := range []struct {
		reachable, loaded bool
		want              float64
	}{{false, false, 0}, {true, false, 0}, {false, true, 0}, {true, true, 1}} {
		tracker.info = checkin.StoreInfo{Kind: "postgres", Reachable: &c.reachable, Loaded: c.loaded}
		mustValue(t, m, c.want, "otagit_checkin_store_up")
	}
	mustValue(t, m, 100, "otagit_checkins_saved_total")
	mustValue(t, m, 2, "otagit_checkins_dropped_total")
	mustValue(t, m, 1, "otagit_checkin_save_failures_total")
	mustValue(t, m, 5, "otagit_http_requests_in_flight")

	// Before any sync and without GitHub's word: no age, no rate limit.
	m = New(Sources{Store: &fakeStore{}, GitHub: fakeGitHub{RateLimitRemaining: -1}})
	for _, name := range []string{"otagit_sync_seconds_since_success", "otagit_github_rate_limit_remaining", "otagit_serving_commit_info"} {
		if _, ok := value(t, m, name); ok {
			t.Errorf("%s exported before there is one", name)
		}
	}
	mustValue(t, m, 1, "otagit_sync_ok")
	mustValue(t, m, 0, "otagit_commit_rejected")
}
