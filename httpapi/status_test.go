package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/internal/buildinfo"
)

type fixedStatus gitstore.Status

func (f fixedStatus) Status() gitstore.Status { return gitstore.Status(f) }

func TestAPIStatus(t *testing.T) {
	fleet := testFleet(t, t.TempDir(), 4096)
	st := gitstore.Status{
		Repo: "https://example.invalid/fleet.git", Branch: "main", Commit: "c0ffee",
		RejectedCommit: "bad1", LastError: "commit bad1 rejected: 1 config errors",
		Problems: config.Problems{{File: "platforms/lamp.toml", Line: 3, Key: "chip", Message: "unknown chip"}},
	}
	r := mux.NewRouter()
	New(Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Commit: "c0ffee", Fleet: fleet}}, Status: fixedStatus(st),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(r)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/api/status", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var got struct {
		Commit         string
		RejectedCommit string `json:"rejected_commit"`
		LastError      string `json:"last_error"`
		Serving        bool
		Otagit         struct {
			Version   string
			GoVersion string `json:"go_version"`
		}
		Devices   int
		Problems  []config.Problem
		Platforms []struct {
			Name     string
			Chip     string
			Devices  int
			Releases []struct{ Version, File, MD5 string }
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Otagit.Version != buildinfo.Get().Version || got.Otagit.GoVersion == "" {
		t.Errorf("status: otagit %+v, want %+v", got.Otagit, buildinfo.Get())
	}
	if got.Commit != "c0ffee" || got.RejectedCommit != "bad1" || !got.Serving || got.Devices != 2 || got.LastError == "" {
		t.Errorf("status: got %+v", got)
	}
	if len(got.Problems) != 1 || got.Problems[0].Line != 3 || got.Problems[0].File != "platforms/lamp.toml" {
		t.Errorf("problems: got %+v", got.Problems)
	}
	if len(got.Platforms) != 2 || got.Platforms[0].Name != "lamp" || got.Platforms[0].Devices != 1 ||
		len(got.Platforms[0].Releases) != 2 || got.Platforms[0].Releases[0].Version != "1.1.0" || got.Platforms[0].Releases[0].MD5 == "" {
		t.Errorf("platforms: got %+v", got.Platforms)
	}

	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 {
		t.Errorf("healthz: got %d, want 200", rec.Code)
	}
}

// TestHealthzAgreesWithStatus is fault 11's item: right after a restart
// the store publishes the last good commit's snapshot a moment before its
// status names the commit, and /healthz said 200 while /api/status had no
// commit. Both now report one state: the commit the status names.
func TestHealthzAgreesWithStatus(t *testing.T) {
	fleet := testFleet(t, t.TempDir(), 4096)
	snaps := fixedSnapshots{&gitstore.Snapshot{Commit: "c0ffee", Fleet: fleet}}
	for _, c := range []struct {
		status   gitstore.Status
		snaps    fixedSnapshots
		code     int
		serving  bool
		reported string
	}{
		{gitstore.Status{Branch: "main"}, snaps, 503, false, ""},                        // snapshot published, status not yet
		{gitstore.Status{Branch: "main", Commit: "c0ffee"}, snaps, 200, true, "c0ffee"}, // both
		{gitstore.Status{Branch: "main"}, fixedSnapshots{nil}, 503, false, ""},          // nothing yet
	} {
		r := mux.NewRouter()
		New(Config{Snapshots: c.snaps, Status: fixedStatus(c.status),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(r)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		var health struct{ Commit string }
		_ = json.Unmarshal(rec.Body.Bytes(), &health)
		rec2 := httptest.NewRecorder()
		r.ServeHTTP(rec2, httptest.NewRequest("GET", "/api/status", nil))
		var status struct {
			Commit  string
			Serving bool
		}
		if err := json.Unmarshal(rec2.Body.Bytes(), &status); err != nil {
			t.Fatal(err)
		}
		if rec.Code != c.code || health.Commit != c.reported || status.Serving != c.serving || status.Commit != c.reported {
			t.Errorf("status %+v: healthz %d %q, /api/status serving %v commit %q; want %d, %q, %v",
				c.status, rec.Code, health.Commit, status.Serving, status.Commit, c.code, c.reported, c.serving)
		}
	}
}
