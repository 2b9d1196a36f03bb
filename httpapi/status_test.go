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
