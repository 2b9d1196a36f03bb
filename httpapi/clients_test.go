package httpapi

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/rollout"
)

// checkins keeps what a Recorder is handed, and answers DeviceSource's
// Device from the versions reported, as the tracker does.
type checkins struct {
	mu  sync.Mutex
	got []checkin.CheckIn
}

func (c *checkins) Observe(ci checkin.CheckIn, _ rollout.Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, ci)
}

func (c *checkins) all() []checkin.CheckIn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]checkin.CheckIn(nil), c.got...)
}

func (c *checkins) Device(mac rollout.MAC) (checkin.Device, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := checkin.Device{MAC: mac}
	seen := false
	for _, ci := range c.got {
		if ci.MAC == mac {
			seen = true
			if ci.Version != "" {
				d.LastVersion = ci.Version
			}
		}
	}
	return d, seen
}

func (c *checkins) Page(checkin.Filter, int, int) ([]checkin.Device, int) { return nil, 0 }
func (c *checkins) History(context.Context, rollout.MAC, int) ([]checkin.CheckIn, error) {
	return nil, errors.New("no history")
}

// clientsFixture serves a fleet for the clients' endpoints:
//
//	lamp (esp8266):          1.0.0, 1.1.0; desk 18:FE:34:00:00:01 ("desk")
//	station (esp32, anonymous devices): 2.0.0, 2.1.0-rc.1 (beta);
//	                         roof 24:0A:C4:00:00:01 ("roof"),
//	                         attic 24:0A:C4:00:00:02 ("attic", beta)
type clientsFixture struct {
	h     http.Handler
	fleet *rollout.Fleet
	rec   *checkins
	logs  *bytes.Buffer
}

func artifactFile(t testing.TB, dir string, chip espimage.Chip, name, version string, size int) rollout.Artifact {
	t.Helper()
	b, err := espimage.Build(espimage.BuildOptions{Chip: chip, ProjectName: name, Version: version, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+"-"+version+".bin")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(b)
	return rollout.Artifact{Source: rollout.Source{Path: "fw/" + name + "-" + version + ".bin"}, File: file, Size: int64(len(b)),
		MD5: hex.EncodeToString(sum[:]), SHA256: strings.Repeat("cd", 32)}
}

func newClientsFixture(t *testing.T) *clientsFixture { return newClientsFixtureTB(t) }

func newClientsFixtureTB(t testing.TB) *clientsFixture {
	t.Helper()
	dir := t.TempDir()
	rel := func(p string, chip espimage.Chip, v string) *rollout.Release {
		ver, err := rollout.ParseReleaseVersion(v)
		if err != nil {
			t.Fatal(err)
		}
		return &rollout.Release{Platform: p, Version: ver, Artifact: artifactFile(t, dir, chip, p, v, 4096),
			IntroducedAt: time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)}
	}
	fleet, err := rollout.NewFleet(
		[]*rollout.Platform{
			{Name: "lamp", Chip: "esp8266", Releases: []*rollout.Release{rel("lamp", espimage.ESP8266, "1.0.0"), rel("lamp", espimage.ESP8266, "1.1.0")}},
			{Name: "station", Chip: "esp32", Description: "Weather station", Anonymous: true,
				Releases: []*rollout.Release{rel("station", espimage.ESP32, "2.0.0"), rel("station", espimage.ESP32, "2.1.0-rc.1")}},
		},
		[]*rollout.Device{
			{MAC: rollout.MAC{0x18, 0xFE, 0x34, 0, 0, 1}, Platform: "lamp", Name: "desk"},
			{MAC: rollout.MAC{0x24, 0x0A, 0xC4, 0, 0, 1}, Platform: "station", Name: "roof"},
			{MAC: rollout.MAC{0x24, 0x0A, 0xC4, 0, 0, 2}, Platform: "station", Name: "attic", Channel: rollout.Beta},
		})
	if err != nil {
		t.Fatal(err)
	}
	fx := &clientsFixture{fleet: fleet, rec: &checkins{}, logs: &bytes.Buffer{}}
	r := mux.NewRouter()
	New(Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Commit: "c1", Fleet: fleet}}, Recorder: fx.rec, Devices: fx.rec,
		Logger: slog.New(slog.NewTextHandler(fx.logs, nil))}).Register(r)
	fx.h = r
	return fx
}

func (fx *clientsFixture) get(t *testing.T, url string, h http.Header) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest("GET", url, nil)
	req.Host = "ota.example:8000"
	if h != nil {
		req.Header = h
	}
	rec := httptest.NewRecorder()
	fx.h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	// Every answer has an exact length: the clients read that many bytes.
	if cl := res.Header.Get("Content-Length"); res.StatusCode != 204 && res.StatusCode != 304 && cl != strconv.Itoa(len(body)) {
		t.Errorf("GET %s: Content-Length %q for a %d-byte body", url, cl, len(body))
	}
	return res, body
}

func (fx *clientsFixture) release(platform, version string) *rollout.Release {
	v, _ := rollout.ParseReleaseVersion(version)
	return fx.fleet.Platform(platform).Release(v)
}

func imageOf(t *testing.T, r *rollout.Release) []byte {
	t.Helper()
	b, err := os.ReadFile(r.Artifact.File)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAutoConnectCatalog(t *testing.T) {
	fx := newClientsFixture(t)
	tests := []struct {
		name, url, ua string
		status        int
		names         []string
	}{
		{"one platform", "/_catalog?op=list&path=/lamp", "ESP8266HTTPClient", 200, []string{"lamp-1.1.0.bin", "lamp-1.0.0.bin"}},
		{"platform in any case", "/_catalog?op=list&path=/LAMP", "ESP8266HTTPClient", 200, []string{"lamp-1.1.0.bin", "lamp-1.0.0.bin"}},
		{"default path, ESP8266: its platforms", "/_catalog?op=list&path=.", "ESP8266HTTPClient", 200, []string{"lamp-1.1.0.bin", "lamp-1.0.0.bin"}},
		{"default path, ESP32: its platforms", "/_catalog?op=list&path=.", "ESP32HTTPClient", 200, []string{"station-2.1.0-rc.1.bin", "station-2.0.0.bin"}},
		{"default path, unknown client: all", "/_catalog?op=list&path=.", "curl/8", 200,
			[]string{"lamp-1.1.0.bin", "lamp-1.0.0.bin", "station-2.1.0-rc.1.bin", "station-2.0.0.bin"}},
		{"no op", "/_catalog?path=/lamp", "ESP8266HTTPClient", 403, nil},
		{"other op", "/_catalog?op=delete&path=/lamp", "ESP8266HTTPClient", 403, nil},
		{"escaping path", "/_catalog?op=list&path=/../etc", "ESP8266HTTPClient", 403, nil},
		{"dot-dot", "/_catalog?op=list&path=..", "ESP8266HTTPClient", 403, nil},
		{"nested path", "/_catalog?op=list&path=/lamp/old", "ESP8266HTTPClient", 403, nil},
		{"relative path", "/_catalog?op=list&path=lamp", "ESP8266HTTPClient", 403, nil},
		{"encoded escape", "/_catalog?op=list&path=%2F..%2Fetc", "ESP8266HTTPClient", 403, nil},
		{"unknown platform", "/_catalog?op=list&path=/toaster", "ESP8266HTTPClient", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := fx.get(t, tt.url, http.Header{"User-Agent": {tt.ua}})
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				return
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var entries []map[string]any
			if err := json.Unmarshal(body, &entries); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e["name"].(string))
				if e["type"] != "bin" || e["date"] != "2026-05-04" || e["time"] != "03:02:01" || e["size"] != float64(4096) {
					t.Errorf("entry %v", e)
				}
			}
			if strings.Join(names, " ") != strings.Join(tt.names, " ") {
				t.Errorf("names %v, want %v", names, tt.names)
			}
		})
	}
	if n := len(fx.rec.all()); n != 0 {
		t.Errorf("%d check-ins recorded for catalogs, which name no device", n)
	}
}

// TestAutoConnectCatalogEntrySize: a release whose entry would not fit
// the device's 256-byte parse buffer is left out, so that the rest of
// the list still parses.
func TestAutoConnectCatalogEntrySize(t *testing.T) {
	fx := newClientsFixture(t)
	lamp := fx.fleet.Platform("lamp")
	long := *lamp.Releases[0]
	long.Version, _ = rollout.ParseReleaseVersion("1.2.0-" + strings.Repeat("x", 120))
	lamp.Releases = append([]*rollout.Release{&long}, lamp.Releases...)
	_, body := fx.get(t, "/_catalog?op=list&path=/lamp", nil)
	var entries []catalogEntry
	if err := json.Unmarshal(body, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Name != "lamp-1.1.0.bin" {
		t.Errorf("entries %+v, want the two that fit", entries)
	}
	if !strings.Contains(fx.logs.String(), "too long for the device to parse") {
		t.Errorf("no warning logged:\n%s", fx.logs)
	}
}

func TestAutoConnectDownload(t *testing.T) {
	fx := newClientsFixture(t)
	lamp10, lamp11 := fx.release("lamp", "1.0.0"), fx.release("lamp", "1.1.0")
	runs := func(r *rollout.Release) http.Header {
		h := esp8266Headers("18:FE:34:00:00:01", "")
		h.Set("x-ESP8266-sketch-md5", r.Artifact.MD5)
		return h
	}
	tests := []struct {
		name   string
		url    string
		h      http.Header
		status int
		want   *rollout.Release
	}{
		{"the offer, picked, on 1.0.0 by its MD5", "/lamp/lamp-1.1.0.bin", runs(lamp10), 200, lamp11},
		{"the default path's URL", "/lamp-1.1.0.bin", runs(lamp10), 200, lamp11},
		{"an older pick is not the offer", "/lamp/lamp-1.0.0.bin", runs(lamp10), 304, nil},
		{"what it runs", "/lamp/lamp-1.1.0.bin", runs(lamp11), 304, nil},
		{"unknown MD5, never seen: from no release", "/lamp/lamp-1.1.0.bin", esp8266Headers("18:FE:34:00:00:01", ""), 200, lamp11},
		{"a version header counts", "/lamp/lamp-1.1.0.bin", esp8266Headers("18:FE:34:00:00:01", "1.1.0"), 304, nil},
		{"not whitelisted", "/lamp/lamp-1.1.0.bin", esp8266Headers("18:FE:34:99:99:99", ""), 403, nil},
		{"another platform's device", "/station/station-2.0.0.bin", esp8266Headers("18:FE:34:00:00:01", ""), 403, nil},
		{"no device headers", "/lamp/lamp-1.1.0.bin", http.Header{}, 400, nil},
		{"no such release", "/lamp/lamp-9.0.0.bin", runs(lamp10), 404, nil},
		{"file of another directory", "/lamp/station-2.0.0.bin", runs(lamp10), 404, nil},
		{"not a release name", "/lamp/firmware.bin", runs(lamp10), 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := fx.get(t, tt.url, tt.h)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tt.status, body)
			}
			if tt.want == nil {
				return
			}
			if !bytes.Equal(body, imageOf(t, tt.want)) || rawHeader(res.Header, "x-MD5") != tt.want.Artifact.MD5 {
				t.Errorf("body or x-MD5 is not %s's image", tt.want.Version)
			}
			file := tt.url[strings.LastIndexByte(tt.url, '/')+1:]
			if cd := res.Header.Get("Content-Disposition"); cd != "attachment; filename="+file {
				t.Errorf("Content-Disposition %q", cd)
			}
		})
	}
	for _, c := range fx.rec.all() {
		if c.Client != "autoconnect" {
			t.Errorf("check-in of client %q", c.Client)
		}
	}
}

func TestFUOTA(t *testing.T) {
	fx := newClientsFixture(t)
	lamp11 := fx.release("lamp", "1.1.0")
	tests := []struct {
		name   string
		url    string
		status int
		body   string
	}{
		{"by name", "/devices/desk?app_ver=1.0.0", 200, "18FE34000001/1.0.0/lamp-1.1.0.bin"},
		{"by name in another case", "/devices/DESK?app_ver=1.0.0", 200, "18FE34000001/1.0.0/lamp-1.1.0.bin"},
		{"by MAC", "/devices/18:FE:34:00:00:01?app_ver=1.0", 200, "18FE34000001/1.0.0/lamp-1.1.0.bin"},
		{"by bare MAC", "/devices/18fe34000001?app_ver=v1.0.0", 200, "18FE34000001/1.0.0/lamp-1.1.0.bin"},
		{"up to date", "/devices/desk?app_ver=1.1.0", 204, ""},
		{"no version", "/devices/desk", 400, ""},
		{"bad version", "/devices/desk?app_ver=banana", 400, ""},
		{"unknown device", "/devices/kitchen?app_ver=1.0.0", 404, ""},
		{"unknown MAC", "/devices/18:FE:34:99:99:99?app_ver=1.0.0", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := fx.get(t, tt.url, http.Header{"User-Agent": {"ESP32 HTTP Client/1.0"}})
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tt.status, body)
			}
			if tt.status == 200 && (string(body) != tt.body || res.Header.Get("Content-Type") != "text/csv") {
				t.Errorf("body %q (%s), want %q as text/csv", body, res.Header.Get("Content-Type"), tt.body)
			}
			if tt.status == 204 && len(body) != 0 {
				t.Errorf("204 with a body")
			}
		})
	}
	files := []struct {
		name   string
		path   string
		status int
	}{
		{"the path given", "/files/18FE34000001/1.0.0/lamp-1.1.0.bin", 200},
		{"another release than offered", "/files/18FE34000001/1.0.0/lamp-1.0.0.bin", 404},
		{"from the version it is offered", "/files/18FE34000001/1.1.0/lamp-1.1.0.bin", 404},
		{"another device", "/files/18FE34000002/1.0.0/lamp-1.1.0.bin", 404},
		{"another platform's file", "/files/18FE34000001/1.0.0/station-2.0.0.bin", 404},
		{"no such release", "/files/18FE34000001/1.0.0/lamp-3.0.0.bin", 404},
		{"garbage", "/files/x/y/z", 404},
	}
	for _, tt := range files {
		t.Run(tt.name, func(t *testing.T) {
			res, body := fx.get(t, tt.path, nil)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tt.status, body)
			}
			if tt.status == 200 && !bytes.Equal(body, imageOf(t, lamp11)) {
				t.Error("not 1.1.0's image")
			}
		})
	}
	// The check reports a version; the download does not (its version was
	// reported by the check), so an offer is not counted twice.
	var reported, downloads, refused int
	for _, c := range fx.rec.all() {
		switch {
		case c.Client != "fuota":
			t.Errorf("check-in of client %q", c.Client)
		case c.Offered != "" && c.Version == "":
			downloads++
		case c.Offered == "" && c.Version == "" && c.Status == 404:
			refused++ // a file of the device that it is not offered
		case c.Offered == "" && c.Version != "":
			reported++
		default:
			t.Errorf("check-in %+v", c)
		}
	}
	if downloads != 1 || refused != 2 || reported != 6 {
		t.Errorf("check-ins: %d downloads, %d refused, %d reports; want 1, 2 and 6", downloads, refused, reported)
	}
}

// denyAll refuses every device request.
type denyAll struct{}

func (denyAll) AuthorizeDevice(*http.Request, *rollout.Device, string) (checkin.Auth, error) {
	return checkin.AuthNone, errors.New("no credentials")
}

// TestDeviceAuthorizerSeam: every device endpoint asks the authorizer
// before anything is decided or recorded, and answers a refusal in its
// client's terms: 403 for FUOTA, 401 with a challenge for the others.
func TestDeviceAuthorizerSeam(t *testing.T) {
	fx := newClientsFixture(t)
	r := mux.NewRouter()
	New(Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Fleet: fx.fleet}}, Recorder: fx.rec, DeviceAuthorizer: denyAll{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(r)
	fx.h = r
	lamp := esp8266Headers("18:FE:34:00:00:01", "1.0.0")
	for _, tt := range []struct {
		url    string
		h      http.Header
		status int
	}{
		{"/update", lamp, 401},
		{"/lamp/lamp-1.1.0.bin", lamp, 401},
		{"/_catalog?op=list&path=/lamp", nil, 401},
		{"/devices/desk?app_ver=1.0.0", nil, 403},
		{"/files/18FE34000001/1.0.0/lamp-1.1.0.bin", nil, 403},
		{"/fota/station.json?id=1099524475428", nil, 401},
		{"/fota/station/240AC4000001/2.0.0/2.0.0.bin", nil, 401},
		{"/esphome/station.json?id=roof", nil, 401},
		{"/esphome/station/any/0.0.0/2.0.0.bin", nil, 401},
	} {
		res, _ := fx.get(t, tt.url, tt.h)
		if res.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.url, res.StatusCode, tt.status)
		}
		if tt.status == 401 && res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tt.url)
		}
	}
	if n := len(fx.rec.all()); n != 0 {
		t.Errorf("%d check-ins recorded for refused requests", n)
	}
}

func TestESP32FOTAManifest(t *testing.T) {
	fx := newClientsFixture(t)
	// ESP.getEfuseMac() of 24:0A:C4:00:00:01 and ...:02 (the bytes read
	// little-endian, as Python's int.from_bytes(mac, "little") reads them).
	roof, attic := "1099524475428", "2199036103204"
	tests := []struct {
		name    string
		url     string
		status  int
		version string
		url2    string // the manifest's url; "" for none
	}{
		{"whitelisted device, never seen", "/fota/station.json?id=" + roof, 200, "2.0.0",
			"http://ota.example:8000/fota/station/240AC4000001/0.0.0/2.0.0.bin"},
		{"its version in the URL", "/fota/station.json?ver=1.0.0&id=" + roof, 200, "2.0.0",
			"http://ota.example:8000/fota/station/240AC4000001/1.0.0/2.0.0.bin"},
		{"up to date: the version it runs", "/fota/station.json?ver=2.0.0&id=" + roof, 200, "2.0.0",
			"http://ota.example:8000/fota/station/240AC4000001/2.0.0/2.0.0.bin"},
		{"a pre-release is never offered", "/fota/station.json?ver=2.0.0&id=" + attic, 200, "0.0.0", ""},
		{"a pre-release it runs is not named", "/fota/station.json?ver=2.1.0-rc.1&id=" + attic, 200, "0.0.0", ""},
		{"anonymous on a platform that allows it", "/fota/station.json", 200, "2.0.0",
			"http://ota.example:8000/fota/station/any/0.0.0/2.0.0.bin"},
		{"anonymous, not allowed", "/fota/lamp.json", 403, "", ""},
		{"unknown platform", "/fota/toaster.json?id=" + roof, 404, "", ""},
		{"not an efuse id", "/fota/station.json?id=24:0A:C4:00:00:01", 400, "", ""},
		{"not whitelisted", "/fota/station.json?id=1", 403, "", ""},
		{"whitelisted for another platform", "/fota/lamp.json?id=" + roof, 403, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := fx.get(t, tt.url, http.Header{"User-Agent": {"ESP32HTTPClient"}})
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				return
			}
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil || len(body) > 2048 {
				t.Fatalf("manifest %s (%d bytes): %v", body, len(body), err)
			}
			if m["type"] != "station" || m["version"] != tt.version {
				t.Errorf("manifest %s: want type station, version %s", body, tt.version)
			}
			if got, _ := m["url"].(string); got != tt.url2 {
				t.Errorf("url %q, want %q", got, tt.url2)
			}
		})
	}
}

func TestManifestDownloads(t *testing.T) {
	fx := newClientsFixture(t)
	st20 := fx.release("station", "2.0.0")
	tests := []struct {
		name   string
		path   string
		status int
	}{
		{"esp32FOTA, as the manifest says", "/fota/station/240AC4000001/1.0.0/2.0.0.bin", 200},
		{"esp32FOTA, anonymous", "/fota/station/any/0.0.0/2.0.0.bin", 200},
		{"ESPHome", "/esphome/station/240AC4000001/1.0.0/2.0.0.bin", 200},
		{"a release not offered", "/fota/station/240AC4000001/1.0.0/2.1.0-rc.1.bin", 404},
		{"anonymous: no beta", "/esphome/station/any/2.0.0/2.1.0-rc.1.bin", 404},
		{"not whitelisted", "/fota/station/240AC4000009/1.0.0/2.0.0.bin", 403},
		{"anonymous, not allowed", "/fota/lamp/any/0.0.0/1.1.0.bin", 403},
		{"no such release", "/fota/station/240AC4000001/1.0.0/9.9.9.bin", 404},
		{"bad from", "/fota/station/240AC4000001/x/2.0.0.bin", 404},
		{"bad device", "/fota/station/roof/1.0.0/2.0.0.bin", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := fx.get(t, tt.path, nil)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tt.status, body)
			}
			if tt.status == 200 && !bytes.Equal(body, imageOf(t, st20)) {
				t.Error("not 2.0.0's image")
			}
		})
	}
}

func TestESPHomeManifest(t *testing.T) {
	fx := newClientsFixture(t)
	st20 := fx.release("station", "2.0.0")
	tests := []struct {
		name    string
		url     string
		status  int
		version string
		path    string
	}{
		{"by name", "/esphome/station.json?id=roof", 200, "2.0.0", "/esphome/station/240AC4000001/0.0.0/2.0.0.bin"},
		{"a beta device", "/esphome/station.json?id=Attic", 200, "2.1.0-rc.1", "/esphome/station/240AC4000002/0.0.0/2.1.0-rc.1.bin"},
		{"by MAC, with its version", "/esphome/station.json?id=24:0A:C4:00:00:02&ver=v2.0.0", 200, "v2.1.0-rc.1",
			"/esphome/station/240AC4000002/2.0.0/2.1.0-rc.1.bin"},
		{"runs the newest: its own version string", "/esphome/station.json?id=attic&ver=V2.1.0-rc.1", 200, "V2.1.0-rc.1",
			"/esphome/station/240AC4000002/2.1.0-rc.1/2.1.0-rc.1.bin"},
		{"newer than any release: what it may have", "/esphome/station.json?id=roof&ver=3.0.0", 200, "2.0.0",
			"/esphome/station/240AC4000001/3.0.0/2.0.0.bin"},
		{"anonymous: stable only", "/esphome/station.json", 200, "2.0.0", "/esphome/station/any/0.0.0/2.0.0.bin"},
		{"anonymous, not allowed", "/esphome/lamp.json", 403, "", ""},
		{"unknown name", "/esphome/station.json?id=cellar", 403, "", ""},
		{"unknown platform", "/esphome/toaster.json", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := fx.get(t, tt.url, nil)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				return
			}
			var m esphomeManifest
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			if m.Name != "Weather station" || m.Version != tt.version || len(m.Builds) != 1 || m.Builds[0].ChipFamily != "ESP32" {
				t.Errorf("manifest %s", body)
			}
			ota := m.Builds[0].OTA
			if ota.Path != tt.path || len(ota.MD5) != 32 || ota.Summary == "" {
				t.Errorf("ota %+v, want path %s", ota, tt.path)
			}
		})
	}
	// The anonymous manifest's MD5 is that of the image its path serves.
	_, body := fx.get(t, "/esphome/station.json", nil)
	var m esphomeManifest
	json.Unmarshal(body, &m)
	if m.Builds[0].OTA.MD5 != st20.Artifact.MD5 {
		t.Errorf("md5 %s, want 2.0.0's %s", m.Builds[0].OTA.MD5, st20.Artifact.MD5)
	}
}

// TestESPHomePathWithHTTP: ESPHome takes a path holding "http" anywhere
// for a full URL, so such a path is written as one.
func TestESPHomePathWithHTTP(t *testing.T) {
	fx := newClientsFixture(t)
	p := fx.fleet.Platform("station")
	rs := p.Releases
	f, err := rollout.NewFleet([]*rollout.Platform{{Name: "http-bridge", Chip: "esp32c3", Anonymous: true, Releases: []*rollout.Release{
		{Platform: "http-bridge", Version: rs[1].Version, Artifact: rs[1].Artifact}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := mux.NewRouter()
	New(Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Fleet: f}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(r)
	fx.h = r
	_, body := fx.get(t, "/esphome/http-bridge.json", nil)
	var m esphomeManifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if want := "http://ota.example:8000/esphome/http-bridge/any/0.0.0/2.0.0.bin"; m.Builds[0].OTA.Path != want || m.Builds[0].ChipFamily != "ESP32-C3" {
		t.Errorf("build %+v, want path %s for ESP32-C3", m.Builds[0], want)
	}
}

// TestManifestAssumesLastReported: a manifest fetched without ?ver= is
// decided from the version the device last reported, and says so in its
// download URL; never seen, from no release.
func TestManifestAssumesLastReported(t *testing.T) {
	fx := newClientsFixture(t)
	const roof = "1099524475428"
	url := func() string {
		_, body := fx.get(t, "/fota/station.json?id="+roof, nil)
		var m fotaManifest
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		return m.URL
	}
	if got := url(); !strings.HasSuffix(got, "/240AC4000001/0.0.0/2.0.0.bin") {
		t.Errorf("never seen: url %s, want one from 0.0.0", got)
	}
	fx.get(t, "/esphome/station.json?id=roof&ver=1.5.0", nil) // another client reports 1.5.0
	if got := url(); !strings.HasSuffix(got, "/240AC4000001/1.5.0/2.0.0.bin") {
		t.Errorf("after reporting 1.5.0: url %s, want one from 1.5.0", got)
	}
	for _, c := range fx.rec.all() {
		if c.Client == "esp32fota" && c.Version != "" {
			t.Errorf("a manifest without ver= recorded version %q", c.Version)
		}
	}
}

// TestESP32FOTAManifestLimit: a manifest that would not fit esp32FOTA's
// 2048-byte document is never sent (here for a Host header no device
// sends).
func TestESP32FOTAManifestLimit(t *testing.T) {
	fx := newClientsFixture(t)
	for _, tt := range []struct {
		host   string
		status int
	}{
		{"ota.example", 200},
		{strings.Repeat("h", 1900), 200}, // 1985 bytes of JSON; 2019 in ArduinoJson's pool
		{strings.Repeat("h", 1950), 500}, // 2035 bytes of JSON, but 2069 in the pool
		{strings.Repeat("h", 2100), 500}, // longer than 2048 bytes anyway
	} {
		req := httptest.NewRequest("GET", "/fota/station.json", nil)
		req.Host = tt.host
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, req)
		if rec.Code != tt.status || (rec.Code == 200 && rec.Body.Len() > 2048) {
			t.Errorf("Host of %d bytes: status %d, %d bytes; want %d", len(tt.host), rec.Code, rec.Body.Len(), tt.status)
		}
	}
}

// TestESP32FOTAFilesystemAndGzip: a release with a filesystem image is
// written in the host/port/bin form with spiffs, whose https esp32FOTA
// infers from the port (so not when the port cannot say it); a
// compressed image's URL holds "gz", which esp32FOTA needs to inflate it;
// each URL serves exactly its binary.
func TestESP32FOTAFilesystemAndGzip(t *testing.T) {
	fx := newClientsFixture(t)
	st20 := fx.release("station", "2.0.0")
	fsArt := artifactFile(t, t.TempDir(), espimage.ESP32, "station-fs", "2.0.0", 2048)
	st20.Filesystem = &fsArt
	st20.Artifact.Encoding = rollout.Gzip // the bytes do not matter here
	get := func(host string, overTLS bool) (fotaManifest, *httptest.ResponseRecorder) {
		req := httptest.NewRequest("GET", "/fota/station.json", nil)
		req.Host = host
		if overTLS {
			req.TLS = &tls.ConnectionState{}
		}
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, req)
		var m fotaManifest
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v (%s)", host, err, rec.Body)
		}
		return m, rec
	}
	m, _ := get("ota.example:8000", false)
	want := fotaManifest{Type: "station", Version: "2.0.0", Host: "ota.example", Port: 8000,
		Bin: "/fota/station/any/0.0.0/2.0.0.bin.gz", SPIFFS: "/fota/station/any/0.0.0/2.0.0.fs.bin"}
	if m != want {
		t.Errorf("manifest %+v\nwant     %+v", m, want)
	}
	if m, _ := get("ota.example", true); m.Host != "ota.example" || m.Port != 443 || m.URL != "" {
		t.Errorf("https on 443: %+v, want the host/port form", m)
	}
	m, _ = get("ota.example:8443", true)
	if m.URL != "https://ota.example:8443/fota/station/any/0.0.0/2.0.0.bin.gz" || m.SPIFFS != "" || m.Host != "" {
		t.Errorf("https on 8443: %+v, want the url form without the filesystem", m)
	}
	if !strings.Contains(fx.logs.String(), "filesystem image left out") {
		t.Errorf("leaving the filesystem out is not logged:\n%s", fx.logs)
	}
	for path, want := range map[string][]byte{
		"/fota/station/any/0.0.0/2.0.0.bin.gz":    imageOf(t, st20),
		"/fota/station/any/0.0.0/2.0.0.fs.bin":    mustReadFile(t, fsArt.File),
		"/fota/station/any/0.0.0/2.0.0.bin":       nil, // not its name: the image is gzip
		"/fota/station/any/0.0.0/2.0.0.fs.bin.gz": nil,
	} {
		res, body := fx.get(t, path, nil)
		switch {
		case want == nil && res.StatusCode != 404:
			t.Errorf("%s: %d, want 404", path, res.StatusCode)
		case want != nil && (res.StatusCode != 200 || !bytes.Equal(body, want)):
			t.Errorf("%s: %d, %d bytes", path, res.StatusCode, len(body))
		}
	}
}

func mustReadFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
