package main

import (
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/otagit/otagit/devauth"
	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/server"
)

// authServer serves the starter repository (plus FUOTA device "00001",
// 24:0A:C4:B2:00:03) with device credentials: smart-lamp's shared one,
// the office floor lamp's (18:FE:34:A1:00:02) own, weather-station's
// shared one and FUOTA device 00001's own, by name.
func authServer(t *testing.T) *testServer {
	t.Helper()
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	file := filepath.Join(t.TempDir(), "devices.auth.toml")
	os.WriteFile(file, []byte(`
[platform.smart-lamp]
user = "lamp"
hash = "`+hash("lamp-pw")+`"

[device."18:FE:34:A1:00:02"]
user = "floor"
hash = "`+hash("floor-pw")+`"

[platform.weather-station]
user = "station"
hash = "`+hash("station-pw")+`"

[device."00001"]
user = "fuota"
hash = "`+hash("secret")+`"
`), 0o600)
	auth, err := devauth.New(devauth.Options{File: file})
	if err != nil {
		t.Fatal(err)
	}
	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	repo.WriteString("devices/fuota.toml", "[[device]]\nmac = \"24:0A:C4:B2:00:03\"\nplatform = \"weather-station\"\nname = \"00001\"\n")
	commit := repo.CommitPush("clients")
	ts := startServer(t, repo.Bare, slog.New(slog.NewTextHandler(io.Discard, nil)), func(c *server.Config) {
		c.DeviceAuthorizer = auth
	})
	waitUntil(t, "the commit served", func() bool { return ts.status(t).Commit == commit })
	return ts
}

func withAuth(headers [][2]string, user, pass string) [][2]string {
	return append(headers, [2]string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))})
}

// seen reports whether the server recorded a check-in of mac.
func seen(t *testing.T, ts *testServer, mac string) bool {
	t.Helper()
	return !deviceSummary(t, ts, mac).LastSeen.IsZero()
}

// TestDeviceAuthEndToEnd: ESP8266httpUpdate's exact request, over TCP,
// without, with wrong and with the right credentials; a device's own
// credential used for another MAC; the FUOTA app's two steps with basic
// auth (403 when refused); nothing recorded for a refusal.
func TestDeviceAuthEndToEnd(t *testing.T) {
	ts := authServer(t)
	desk, floor := "18:FE:34:A1:00:01", "18:FE:34:A1:00:02"
	for _, tt := range []struct {
		name       string
		mac        string
		user, pass string // "" sends no Authorization
		status     int
	}{
		{"no credentials", desk, "", "", 401},
		{"wrong password", desk, "lamp", "lamp-pw!", 401},
		{"another device's own credential", desk, "floor", "floor-pw", 401},
		{"the platform's, for a device with its own", floor, "lamp", "lamp-pw", 401},
	} {
		res, body := raw(t, ts.addr, httpUpdateGet(ts.addr, "/update", withCreds(esp8266(tt.mac, "1.0.0"), tt.user, tt.pass)))
		if res.StatusCode != tt.status || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), `Basic realm="otagit"`) {
			t.Errorf("%s: %d %q (%s), want %d with a Basic challenge", tt.name, res.StatusCode, res.Header.Get("WWW-Authenticate"), body, tt.status)
		}
	}
	if seen(t, ts, desk) || seen(t, ts, floor) {
		t.Fatal("a refused request was recorded as a check-in")
	}
	// The right ones: the platform's shared credential, the device's own.
	for _, tt := range []struct{ mac, user, pass string }{{desk, "lamp", "lamp-pw"}, {floor, "floor", "floor-pw"}} {
		for range 2 { // the second from the cache
			res, body := raw(t, ts.addr, httpUpdateGet(ts.addr, "/update", withAuth(esp8266(tt.mac, "1.0.0"), tt.user, tt.pass)))
			if res.StatusCode != 200 || len(body) == 0 {
				t.Fatalf("%s with %s: %d, want the update (200)", tt.mac, tt.user, res.StatusCode)
			}
		}
		if !seen(t, ts, tt.mac) {
			t.Errorf("%s: authenticated check-in not recorded", tt.mac)
		}
	}

	// FUOTA: 403 is its client's refusal, for every step.
	fuota := func(target, user, pass string) int {
		req := "GET " + target + " HTTP/1.1\r\nUser-Agent: ESP32 HTTP Client/1.0\r\nHost: " + ts.addr + "\r\n"
		if user != "" {
			req += "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)) + "\r\n"
		}
		res, _ := raw(t, ts.addr, req+"\r\n")
		return res.StatusCode
	}
	for _, tt := range []struct {
		target, user, pass string
		status             int
	}{
		{"/devices/00001?app_ver=2.0.0", "", "", 403},
		{"/devices/00001?app_ver=2.0.0", "fuota", "wrong", 403},
		{"/devices/00001?app_ver=2.0.0", "station", "station-pw", 403}, // its own, not the platform's
		{"/files/240AC4B20003/2.0.0/weather-station-2.1.0.bin", "", "", 403},
	} {
		if got := fuota(tt.target, tt.user, tt.pass); got != tt.status {
			t.Errorf("%s as %q: %d, want %d", tt.target, tt.user, got, tt.status)
		}
	}
	if seen(t, ts, "24:0A:C4:B2:00:03") {
		t.Fatal("a refused FUOTA request was recorded")
	}
	res, body := raw(t, ts.addr, espHTTPClientGet(ts.addr, "/devices/00001?app_ver=2.0.0")) // fuota:secret
	if res.StatusCode != 200 {
		t.Fatalf("FUOTA check with its credential: %d %s", res.StatusCode, body)
	}
	if res, _ := raw(t, ts.addr, espHTTPClientGet(ts.addr, "/files/"+string(body))); res.StatusCode != 200 {
		t.Fatalf("FUOTA file with its credential: %d", res.StatusCode)
	}
	// 00001's credential does not speak for another station.
	if got := fuota("/files/240AC4B20001/2.0.0/weather-station-2.1.0.bin", "fuota", "secret"); got != 403 {
		t.Errorf("00001's credential for 24:0A:C4:B2:00:01's file: %d, want 403", got)
	}
	if got := fuota("/files/240AC4B20001/2.0.0/weather-station-2.1.0.bin", "station", "station-pw"); got != 200 {
		t.Errorf("the platform's credential for 24:0A:C4:B2:00:01's file: %d, want 200", got)
	}
}

// withCreds adds basic auth when user is set.
func withCreds(headers [][2]string, user, pass string) [][2]string {
	if user == "" {
		return headers
	}
	return withAuth(headers, user, pass)
}
