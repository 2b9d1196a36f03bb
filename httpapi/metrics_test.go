package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/rollout"
)

// countedRequest is one DeviceRequest call.
type countedRequest struct {
	client string
	status int
	why    rollout.Why
}

type recordingMetrics struct{ got []countedRequest }

func (m *recordingMetrics) DeviceRequest(client string, status int, dec *rollout.Decision) {
	c := countedRequest{client: client, status: status}
	if dec != nil {
		c.why = dec.Why
	}
	m.got = append(m.got, c)
}
func (m *recordingMetrics) DownloadStarted()    {}
func (m *recordingMetrics) DownloadEnded(int64) {}

type haltAll struct{}

func (haltAll) Halted(*rollout.Release) bool { return true }

// TestHeldBackReasons: every held-back 304 is logged (at DEBUG) with the
// rule that held the newer release back and a reason saying so, and
// counted in metrics with that rule.
func TestHeldBackReasons(t *testing.T) {
	for _, tc := range []struct {
		why    rollout.Why
		reason string
		setup  func(f *rollout.Fleet, cfg *Config, h http.Header)
	}{
		{rollout.WhyPaused, "1.1.0 is paused", func(f *rollout.Fleet, _ *Config, _ http.Header) {
			f.Platform("lamp").Releases[0].Paused = true
		}},
		{rollout.WhyHalted, "1.1.0 is halted", func(_ *rollout.Fleet, cfg *Config, _ http.Header) { cfg.Halts = haltAll{} }},
		{rollout.WhyNoSpace, "> free", func(_ *rollout.Fleet, _ *Config, h http.Header) { h.Set("x-ESP8266-free-space", "100") }},
		{rollout.WhyFlashTooSmall, "of flash", func(f *rollout.Fleet, _ *Config, _ http.Header) {
			f.Platform("lamp").Releases[0].Artifact.FlashSize = 16 << 20
		}},
		{rollout.WhyAlreadyRunning, "sketch MD5 matches", func(f *rollout.Fleet, _ *Config, h http.Header) {
			h.Set("x-ESP8266-sketch-md5", f.Platform("lamp").Releases[0].Artifact.MD5)
		}},
	} {
		t.Run(tc.why.String(), func(t *testing.T) {
			fleet := testFleet(t, t.TempDir(), 4096)
			var logged strings.Builder
			met := &recordingMetrics{}
			cfg := Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Fleet: fleet}}, Metrics: met,
				Logger: slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			req := httptest.NewRequest("GET", "/update", nil)
			req.Header = esp8266Headers("18:FE:34:00:00:01", "1.0.0")
			tc.setup(fleet, &cfg, req.Header)
			r := mux.NewRouter()
			api := New(cfg)
			api.Register(r)
			w := httptest.NewRecorder()
			api.Front(r).ServeHTTP(w, req)
			if w.Code != http.StatusNotModified {
				t.Fatalf("status %d, want 304", w.Code)
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(logged.String()), &rec); err != nil {
				t.Fatalf("log %q: %v", logged.String(), err)
			}
			if rec["level"] != "DEBUG" || rec["why"] != tc.why.String() || !strings.Contains(rec["reason"].(string), tc.reason) {
				t.Errorf("logged level %v why %v reason %q; want DEBUG, %s, containing %q", rec["level"], rec["why"], rec["reason"], tc.why, tc.reason)
			}
			want := countedRequest{client: clientUpdate, status: http.StatusNotModified, why: tc.why}
			if len(met.got) != 1 || met.got[0] != want {
				t.Errorf("metrics got %+v, want [%+v]", met.got, want)
			}
		})
	}
}

// TestRefusedCredentialCounted: a request refused for its credentials is
// counted as every answered device request is, with no decision, though
// its log line goes through the rate limit.
func TestRefusedCredentialCounted(t *testing.T) {
	met := &recordingMetrics{}
	var logged strings.Builder
	api := New(Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Fleet: testFleet(t, t.TempDir(), 4096)}}, Metrics: met,
		DeviceAuthorizer: denyAll{}, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	r := mux.NewRouter()
	api.Register(r)
	req := httptest.NewRequest("GET", "/update", nil)
	req.Header = esp8266Headers("18:FE:34:00:00:01", "1.0.0")
	w := httptest.NewRecorder()
	api.Front(r).ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", w.Code)
	}
	want := countedRequest{client: clientUpdate, status: http.StatusUnauthorized}
	if len(met.got) != 1 || met.got[0] != want {
		t.Errorf("metrics got %+v, want [%+v]", met.got, want)
	}
	if n := strings.Count(logged.String(), "device credentials refused"); n != 1 {
		t.Errorf("%d refusal lines, want 1:\n%s", n, logged.String())
	}
}
