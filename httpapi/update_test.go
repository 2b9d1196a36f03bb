package httpapi

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/rollout"
)

// fixedSnapshots serves one snapshot.
type fixedSnapshots struct{ snap *gitstore.Snapshot }

func (f fixedSnapshots) Current() *gitstore.Snapshot { return f.snap }

// testFleet builds a fleet whose artifacts are real files in dir: lamp
// (esp8266) 1.0.0 and 1.1.0, station (esp32) 2.0.0 of size stationSize.
func testFleet(t testing.TB, dir string, stationSize int) *rollout.Fleet {
	t.Helper()
	art := func(chip espimage.Chip, name, version string, size int) rollout.Artifact {
		b, err := espimage.Build(espimage.BuildOptions{Chip: chip, ProjectName: name, Version: version, Size: size})
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, name+"-"+version+".bin")
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(b)
		return rollout.Artifact{Source: rollout.Source{Path: "fw/" + name + ".bin"}, File: file, Size: int64(len(b)), MD5: hex.EncodeToString(sum[:]), SHA256: strings.Repeat("ab", 32)}
	}
	rel := func(p, v string, a rollout.Artifact) *rollout.Release {
		ver, err := rollout.ParseReleaseVersion(v)
		if err != nil {
			t.Fatal(err)
		}
		return &rollout.Release{Platform: p, Version: ver, Artifact: a}
	}
	mac := func(s string) rollout.MAC {
		m, err := rollout.ParseMAC(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	fleet, err := rollout.NewFleet(
		[]*rollout.Platform{
			{Name: "lamp", Chip: "esp8266", Releases: []*rollout.Release{
				rel("lamp", "1.0.0", art(espimage.ESP8266, "lamp", "1.0.0", 4096)),
				rel("lamp", "1.1.0", art(espimage.ESP8266, "lamp", "1.1.0", 4096)),
			}},
			{Name: "station", Chip: "esp32", Releases: []*rollout.Release{
				rel("station", "2.0.0", art(espimage.ESP32, "station", "2.0.0", stationSize)),
			}},
		},
		[]*rollout.Device{
			{MAC: mac("18:FE:34:00:00:01"), Platform: "lamp", Name: "desk"},
			{MAC: mac("24:0A:C4:00:00:01"), Platform: "station"},
		})
	if err != nil {
		t.Fatal(err)
	}
	return fleet
}

func newTestRouter(t testing.TB, snap *gitstore.Snapshot, log *slog.Logger) http.Handler {
	r := mux.NewRouter()
	api := New(Config{Snapshots: fixedSnapshots{snap}, Logger: log})
	api.Register(r)
	return api.Front(r) // as the server serves them
}

// esp8266Headers are the headers ESP8266httpUpdate sends (PROTOCOL.md §1).
func esp8266Headers(mac, version string) http.Header {
	h := http.Header{}
	h.Set("User-Agent", "ESP8266-http-Update")
	h.Set("x-ESP8266-STA-MAC", mac)
	h.Set("x-ESP8266-AP-MAC", "1A:FE:34:00:00:01")
	h.Set("x-ESP8266-Chip-ID", "1234567")
	h.Set("x-ESP8266-free-space", "2000000")
	h.Set("x-ESP8266-sketch-size", "300000")
	h.Set("x-ESP8266-sketch-md5", "0123456789abcdef0123456789abcdef")
	h.Set("x-ESP8266-chip-size", "4194304")
	h.Set("x-ESP8266-sdk-version", "2.2.2-dev(38a443e)")
	h.Set("x-ESP8266-mode", "sketch")
	if version != "" {
		h.Set("x-ESP8266-version", version)
	}
	h.Set("Content-Length", "0")
	return h
}

// esp32Headers are the headers ESP32 HTTPUpdate sends (PROTOCOL.md §1).
func esp32Headers(mac, version string) http.Header {
	h := http.Header{}
	h.Set("User-Agent", "ESP32-http-Update")
	h.Set("x-ESP32-STA-MAC", mac)
	h.Set("x-ESP32-AP-MAC", "24:0A:C4:00:00:02")
	h.Set("x-ESP32-free-space", "1966080")
	h.Set("x-ESP32-sketch-size", "900000")
	h.Set("x-ESP32-sketch-md5", "0123456789abcdef0123456789abcdef")
	h.Set("x-ESP32-sketch-sha256", strings.Repeat("AB", 32))
	h.Set("x-ESP32-chip-size", "4194304")
	h.Set("x-ESP32-sdk-version", "v4.4.5")
	h.Set("x-ESP32-mode", "sketch")
	if version != "" {
		h.Set("x-ESP32-version", version)
	}
	h.Set("Cache-Control", "no-cache")
	return h
}

func TestUpdate(t *testing.T) {
	dir := t.TempDir()
	fleet := testFleet(t, dir, 8192)
	h := newTestRouter(t, &gitstore.Snapshot{Commit: "c1", Fleet: fleet}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	lamp11 := fleet.Platform("lamp").Releases[0]
	station := fleet.Platform("station").Releases[0]

	tests := []struct {
		name     string
		method   string
		url      string
		header   http.Header
		status   int
		release  *rollout.Release // for 200: the binary expected
		bodyPart string           // for errors: part of the text body
	}{
		{"flask seed URL, ESP8266", "GET", "/update?dev=smart-lamp&ver=v1.0.2", esp8266Headers("18:FE:34:00:00:01", ""), 404, nil, `unknown platform "smart-lamp"`},
		{"flask seed URL, old version", "GET", "/update?dev=lamp&ver=v1.0.0", esp8266Headers("18:FE:34:00:00:01", ""), 200, lamp11, ""},
		{"platform name any case", "GET", "/update?dev=LAMP&ver=v1.0.0", esp8266Headers("18:FE:34:00:00:01", ""), 200, lamp11, ""},
		{"stock client, no query, version header", "GET", "/update", esp8266Headers("18:FE:34:00:00:01", "1.0.0"), 200, lamp11, ""},
		{"query version wins over header", "GET", "/update?ver=1.1.0", esp8266Headers("18:FE:34:00:00:01", "1.0.0"), 304, nil, ""},
		{"up to date", "GET", "/update?dev=lamp&ver=v1.1.0", esp8266Headers("18:FE:34:00:00:01", ""), 304, nil, ""},
		{"newer than newest", "GET", "/update", esp8266Headers("18:FE:34:00:00:01", "9.0.0"), 304, nil, ""},
		{"ESP32 stock client", "GET", "/update", esp32Headers("24:0A:C4:00:00:01", "1.9.9"), 200, station, ""},
		{"ESP32 lower-case MAC header value", "GET", "/update", esp32Headers("24:0a:c4:00:00:01", "v1.9.9"), 200, station, ""},
		{"HEAD gets headers only", "HEAD", "/update", esp32Headers("24:0A:C4:00:00:01", "1.9.9"), 200, station, ""},
		{"not whitelisted", "GET", "/update?dev=lamp&ver=1.0.0", esp8266Headers("18:FE:34:99:99:99", ""), 403, nil, "not whitelisted"},
		{"whitelisted for another platform", "GET", "/update?dev=station&ver=1.0.0", esp8266Headers("18:FE:34:00:00:01", ""), 403, nil, "whitelisted for platform lamp, not station"},
		{"unknown device, no platform", "GET", "/update", esp32Headers("24:0A:C4:99:99:99", "1.0.0"), 403, nil, "not whitelisted"},
		{"missing MAC", "GET", "/update?dev=lamp&ver=1.0.0", http.Header{}, 400, nil, "missing x-ESP8266-STA-MAC"},
		{"bad MAC", "GET", "/update?dev=lamp&ver=1.0.0", esp8266Headers("not-a-mac", ""), 400, nil, "bad station MAC"},
		{"missing version", "GET", "/update?dev=lamp", esp8266Headers("18:FE:34:00:00:01", ""), 400, nil, "missing version"},
		{"bad version", "GET", "/update?dev=lamp&ver=banana", esp8266Headers("18:FE:34:00:00:01", ""), 400, nil, "cannot read device version"},
		{"percent-encoded query", "GET", "/update?dev=lam%70&ver=v1%2E0%2E0", esp8266Headers("18:FE:34:00:00:01", ""), 200, lamp11, ""},
		{"POST not allowed", "POST", "/update", esp8266Headers("18:FE:34:00:00:01", "1.0.0"), 405, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.url, nil)
			req.Header = tt.header
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("status: got %d, want %d (body %q)", res.StatusCode, tt.status, body)
			}
			switch {
			case tt.status == 200:
				want, err := os.ReadFile(tt.release.Artifact.File)
				if err != nil {
					t.Fatal(err)
				}
				if got := res.Header.Get("Content-Length"); got != strconv.Itoa(len(want)) {
					t.Errorf("Content-Length: got %q, want %d", got, len(want))
				}
				if got := res.Header.Get("Content-Type"); got != "application/octet-stream" {
					t.Errorf("Content-Type: got %q", got)
				}
				if got := rawHeader(res.Header, "x-MD5"); got != tt.release.Artifact.MD5 {
					t.Errorf("x-MD5: got %q, want %q", got, tt.release.Artifact.MD5)
				}
				wantDisp := "attachment; filename=" + tt.release.Platform + "-" + tt.release.Version.String() + ".bin"
				if got := res.Header.Get("Content-Disposition"); got != wantDisp {
					t.Errorf("Content-Disposition: got %q, want %q", got, wantDisp)
				}
				if res.Header.Get("Transfer-Encoding") != "" || res.Header.Get("Content-Encoding") != "" {
					t.Errorf("firmware must be sent plain: %v", res.Header)
				}
				if tt.method == "HEAD" {
					if len(body) != 0 {
						t.Errorf("HEAD body: %d bytes", len(body))
					}
				} else if string(body) != string(want) {
					t.Errorf("body: got %d bytes, not the image of %d bytes", len(body), len(want))
				}
			case tt.status == 304:
				if len(body) != 0 {
					t.Errorf("304 with a body: %q", body)
				}
			case tt.bodyPart != "":
				if !strings.Contains(string(body), tt.bodyPart) {
					t.Errorf("body: got %q, want it to contain %q", body, tt.bodyPart)
				}
			}
		})
	}
}

func TestUpdateModes(t *testing.T) {
	dir := t.TempDir()
	fleet := testFleet(t, dir, 4096)
	h := newTestRouter(t, &gitstore.Snapshot{Fleet: fleet}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	get := func(mode, version string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/update", nil)
		req.Header = esp8266Headers("18:FE:34:00:00:01", version)
		req.Header.Set("x-ESP8266-mode", mode)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	// A filesystem (spiffs/LittleFS) update never receives an application
	// image: 1.1.0 has no filesystem image.
	if rec := get("spiffs", "1.0.0"); rec.Code != 304 || rec.Body.Len() != 0 {
		t.Errorf("spiffs mode, no filesystem: got %d with %d bytes, want 304 and no body", rec.Code, rec.Body.Len())
	}

	// With one, it is sent like an image, with its own name and MD5.
	fsData := []byte("a filesystem image, as mklittlefs writes it")
	fsFile := filepath.Join(dir, "fs.bin")
	if err := os.WriteFile(fsFile, fsData, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(fsData)
	lamp11 := fleet.Platform("lamp").Releases[0]
	lamp11.Filesystem = &rollout.Artifact{Source: rollout.Source{Path: "fw/fs.bin"}, File: fsFile, Size: int64(len(fsData)), MD5: hex.EncodeToString(sum[:]), SHA256: strings.Repeat("cd", 32)}
	rec := get("spiffs", "1.0.0")
	if rec.Code != 200 || rec.Body.String() != string(fsData) || rawHeader(rec.Header(), "x-MD5") != hex.EncodeToString(sum[:]) ||
		rec.Header().Get("Content-Length") != strconv.Itoa(len(fsData)) || rec.Header().Get("Content-Disposition") != "attachment; filename=lamp-1.1.0-fs.bin" {
		t.Errorf("spiffs mode: got %d, %q, headers %v", rec.Code, rec.Body.String(), rec.Header())
	}
	if rec := get("spiffs", "1.1.0"); rec.Code != 304 {
		t.Errorf("spiffs mode, up to date: got %d, want 304", rec.Code)
	}

	// Mode "version" asks which version it should run: 200 whatever the
	// answer, never 304, which getAvailableVersion() takes for an error.
	for _, tt := range []struct{ version, want string }{{"1.0.0", "1.1.0"}, {"v1.0.0", "v1.1.0"}, {"1.1.0", "1.1.0"}} {
		rec := get("version", tt.version)
		if rec.Code != 200 || rawHeader(rec.Header(), "x-version") != tt.want || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != "0" {
			t.Errorf("version mode on %s: got %d, x-version %q, %d body bytes, want 200 %s", tt.version, rec.Code, rawHeader(rec.Header(), "x-version"), rec.Body.Len(), tt.want)
		}
	}
	req := httptest.NewRequest("GET", "/update", nil)
	req.Header = esp8266Headers("18:FE:34:99:99:99", "1.0.0")
	req.Header.Set("x-ESP8266-mode", "version")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Errorf("version mode, not whitelisted: got %d, want 403", rec.Code)
	}
}

func TestUpdateBeforeFirstSnapshot(t *testing.T) {
	h := newTestRouter(t, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	req := httptest.NewRequest("GET", "/update?dev=lamp&ver=1.0.0", nil)
	req.Header = esp8266Headers("18:FE:34:00:00:01", "")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("got %d (Retry-After %q), want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 503 {
		t.Errorf("healthz before first snapshot: got %d, want 503", rec.Code)
	}
}

func TestUpdateMissingArtifact(t *testing.T) {
	dir := t.TempDir()
	fleet := testFleet(t, dir, 4096)
	os.Remove(fleet.Platform("lamp").Releases[0].Artifact.File)
	var logged strings.Builder
	h := newTestRouter(t, &gitstore.Snapshot{Fleet: fleet}, slog.New(slog.NewTextHandler(&logged, nil)))
	req := httptest.NewRequest("GET", "/update", nil)
	req.Header = esp8266Headers("18:FE:34:00:00:01", "1.0.0")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 500 {
		t.Errorf("got %d, want 500", rec.Code)
	}
	if !strings.Contains(logged.String(), "artifact missing from cache") {
		t.Errorf("log: %s", logged.String())
	}
}

// TestUpdateLogLevels: a download is logged at INFO, a 304 that changes
// nothing at DEBUG only, with the rule and reason that decided it.
func TestUpdateLogLevels(t *testing.T) {
	fleet := testFleet(t, t.TempDir(), 4096)
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var logged strings.Builder
		h := newTestRouter(t, &gitstore.Snapshot{Fleet: fleet}, slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{Level: level})))
		for _, v := range []string{"1.0.0", "1.1.0"} {
			req := httptest.NewRequest("GET", "/update", nil)
			req.Header = esp8266Headers("18:FE:34:00:00:01", v)
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
		want := []map[string]any{
			{"level": "INFO", "mac": "18:FE:34:00:00:01", "platform": "lamp", "version": "1.0.0", "decision": "update", "why": "newer", "status": float64(200), "offered": "1.1.0"},
			{"level": "DEBUG", "mac": "18:FE:34:00:00:01", "platform": "lamp", "version": "1.1.0", "decision": "up_to_date", "why": "latest", "status": float64(304),
				"reason": "running 1.1.0; the newest release for this device is 1.1.0"},
		}
		if level == slog.LevelInfo {
			want = want[:1]
		}
		lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
		if len(lines) != len(want) {
			t.Fatalf("level %v: got %d log lines, want %d:\n%s", level, len(lines), len(want), logged.String())
		}
		for i, line := range lines {
			var got map[string]any
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatal(err)
			}
			for k, v := range want[i] {
				if got[k] != v {
					t.Errorf("level %v line %d: %s: got %v, want %v", level, i, k, got[k], v)
				}
			}
		}
	}
}

func TestQueryValue(t *testing.T) {
	tests := []struct{ raw, key, want string }{
		{"dev=lamp&ver=v1.0.2", "dev", "lamp"},
		{"dev=lamp&ver=v1.0.2", "ver", "v1.0.2"},
		{"ver=1&ver=2", "ver", "1"},
		{"dev", "dev", ""},
		{"", "dev", ""},
		{"xdev=a&dev=b", "dev", "b"},
		{"dev=a+b%21", "dev", "a b!"},
		{"dev=%zz", "dev", "%zz"},
	}
	for _, tt := range tests {
		if got := queryValue(tt.raw, tt.key); got != tt.want {
			t.Errorf("queryValue(%q, %q): got %q, want %q", tt.raw, tt.key, got, tt.want)
		}
	}
}

// rawHeader finds name case-insensitively: the handler writes some header
// names in the exact case the ESP reference server uses, which
// http.Header.Get (canonical keys only) does not find in a recorder.
func rawHeader(h http.Header, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// TestUpdateRecordsWhitelistedOnly: refused devices are not recorded
// (anyone can send any MAC), whitelisted ones are, and a device with no
// free space is not offered an image.
func TestUpdateRecordsWhitelistedOnly(t *testing.T) {
	fleet := testFleet(t, t.TempDir(), 4096)
	tr, err := checkin.NewTracker(context.Background(), checkin.TrackerOptions{Store: checkin.NewMemory(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r := mux.NewRouter()
	New(Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Fleet: fleet}}, Halts: tr, Recorder: tr, Devices: tr, Releases: tr, Resumer: tr, Recording: tr,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(r)
	get := func(h http.Header) int {
		req := httptest.NewRequest("GET", "/update", nil)
		req.Header = h
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := range 50 {
		if got := get(esp8266Headers(fmt.Sprintf("02:00:00:00:00:%02X", i), "1.0.0")); got != 403 {
			t.Fatalf("unknown device: %d", got)
		}
	}
	noRoom := esp8266Headers("18:FE:34:00:00:01", "1.0.0")
	noRoom.Set("x-ESP8266-free-space", "0")
	if got := get(noRoom); got != 304 {
		t.Errorf("device with 0 bytes free: got %d, want 304", got)
	}
	if got := len(tr.Devices(checkin.Filter{})); got != 1 {
		t.Errorf("recorded devices: got %d, want 1 (the whitelisted one)", got)
	}
}
