package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/otagit/otagit/checkin"
	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testwait"
	"github.com/otagit/otagit/server"
)

// End-to-end tests of the device clients other than the stock updaters,
// over real TCP against the real server: each sends exactly the requests
// its client's source sends (request line, HTTP version, headers, query
// form) and checks what that client checks.

// clientsServer serves the starter repository with weather-station open
// to anonymous devices, a filesystem image for its 2.1.0, and a third
// station, FUOTA device "00001"
// (24:0A:C4:B2:00:03), on two listeners (the second stands for
// AutoConnect's default port 8000), and returns the server and the second
// address.
func clientsServer(t *testing.T) (*testServer, string) {
	t.Helper()
	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	repo.Write("firmware/weather-station/fs-2.1.0.bin", stationFS())
	ws := strings.Replace(mustRead(t, repo, "platforms/weather-station.toml"), `file = "firmware/weather-station/weather-station-2.1.0.bin"`,
		"file = \"firmware/weather-station/weather-station-2.1.0.bin\"\nfilesystem = \"firmware/weather-station/fs-2.1.0.bin\"", 1)
	repo.WriteString("platforms/weather-station.toml", "anonymous = true\n"+ws)
	repo.WriteString("devices/fuota.toml", "[[device]]\nmac = \"24:0A:C4:B2:00:03\"\nplatform = \"weather-station\"\nname = \"00001\"\n")
	commit := repo.CommitPush("clients")
	addrs := make(chan []string, 1)
	ts := startServer(t, repo.Bare, slog.New(slog.NewTextHandler(io.Discard, nil)), func(c *server.Config) {
		c.Listeners = append(c.Listeners, server.Listener{Addr: "127.0.0.1:0"})
		ready := c.Ready
		c.Ready = func(a []string) { addrs <- a; ready(a) }
	})
	second := (<-addrs)[1]
	waitUntil(t, "the commit served", func() bool { return ts.status(t).Commit == commit })
	return ts, second
}

// stationFS is the filesystem image of weather-station 2.1.0: a LittleFS
// superblock's name is all the loader looks for.
func stationFS() []byte {
	fs := bytes.Repeat([]byte{0xFF}, 16<<10)
	copy(fs[8:], "littlefs")
	return fs
}

// raw sends request, as text, on a new connection to addr and reads the
// answer; the connection is closed after it, whatever it asked.
func raw(t *testing.T, addr, request string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	// No client here reads a chunked or compressed body, and all read
	// exactly Content-Length bytes.
	if len(res.TransferEncoding) > 0 || res.Header.Get("Content-Encoding") != "" {
		t.Errorf("%s: sent with %v %q", firstLine(request), res.TransferEncoding, res.Header.Get("Content-Encoding"))
	}
	if status := res.StatusCode; status != 204 && status != 304 && res.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("%s: Content-Length %q for %d bytes", firstLine(request), res.Header.Get("Content-Length"), len(body))
	}
	return res, body
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\r\n"); return l }

// httpClientGet is a GET as Arduino's HTTPClient (ESP8266HTTPClient,
// ESP32 HTTPClient) sends it by default: HTTP/1.1, keep-alive, its own
// User-Agent and Accept-Encoding.
func httpClientGet(addr, userAgent, target string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: " + userAgent +
		"\r\nConnection: keep-alive\r\nAccept-Encoding: identity;q=1,chunked;q=0.1,*;q=0\r\n\r\n"
}

// httpUpdateGet is a GET as ESP8266httpUpdate sends it: HTTP/1.0 with the
// x-ESP8266 headers (esp8266 in e2e_test.go).
func httpUpdateGet(addr, target string, headers [][2]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n", target, addr)
	for _, h := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	return b.String()
}

// withoutVersion returns headers with the sketch MD5 set and no version
// header: AutoConnectUpdate calls HTTPUpdate's update(client, host, port,
// uri) without a current version.
func withoutVersion(headers [][2]string, md5 string) [][2]string {
	var out [][2]string
	for _, h := range headers {
		switch {
		case strings.HasSuffix(h[0], "-version"):
		case strings.HasSuffix(h[0], "-sketch-md5"):
			out = append(out, [2]string{h[0], md5})
		default:
			out = append(out, h)
		}
	}
	return out
}

// autoConnectParse reads a catalog as AutoConnectUpdate does: it finds
// '[', then parses one object at a time, each into a 256-byte
// StaticJsonDocument, skipping to the next ',' until ']', and keeps the
// names of the "bin" entries. An entry that does not fit fails the whole
// list, as on the device.
func autoConnectParse(t *testing.T, body []byte) []string {
	t.Helper()
	i := bytes.IndexByte(body, '[')
	if i < 0 {
		t.Fatalf("catalog without '[': %s", body)
	}
	rest := body[i+1:]
	var names []string
	for {
		dec := json.NewDecoder(bytes.NewReader(rest))
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if bytes.HasPrefix(bytes.TrimSpace(rest), []byte("]")) && len(names) == 0 {
				return nil // an empty list
			}
			t.Fatalf("catalog entry does not parse: %v in %s", err, rest)
		}
		used := int(dec.InputOffset())
		// ArduinoJson 6 on a 32-bit chip: a 16-byte slot per member, keys
		// and strings copied with a NUL.
		pool := 0
		for k, v := range obj {
			pool += 16 + len(k) + 1
			if s, ok := v.(string); ok {
				pool += len(s) + 1
			}
		}
		if pool > 256 || used > 256 {
			t.Fatalf("catalog entry of %d bytes needs %d bytes of the device's 256: %s", used, pool, rest[:used])
		}
		if strings.EqualFold(fmt.Sprint(obj["type"]), "bin") {
			names = append(names, fmt.Sprint(obj["name"]))
		}
		rest = rest[used:]
		j := bytes.IndexAny(rest, ",]")
		if j < 0 || rest[j] == ']' {
			return names
		}
		rest = rest[j+1:]
	}
}

func TestAutoConnectEndToEnd(t *testing.T) {
	ts, port8000 := clientsServer(t)
	lamp := "18:FE:34:A1:00:01"
	lamp10, lamp11 := fsRead(t, "firmware/smart-lamp/smart-lamp-1.0.0.bin"), fsRead(t, "firmware/smart-lamp/smart-lamp-1.1.0.bin")

	// The catalog, with AutoConnectUpdate("host", 8000, "/smart-lamp").
	res, body := raw(t, port8000, httpClientGet(port8000, "ESP8266HTTPClient", "/_catalog?op=list&path=/smart-lamp"))
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("catalog: %d %s: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if got := autoConnectParse(t, body); strings.Join(got, " ") != "smart-lamp-1.1.0.bin smart-lamp-1.0.0.bin" {
		t.Errorf("catalog lists %v", got)
	}
	// The default path ".": the ESP8266 platforms only.
	_, body = raw(t, port8000, httpClientGet(port8000, "ESP8266HTTPClient", "/_catalog?op=list&path=."))
	if got := autoConnectParse(t, body); strings.Join(got, " ") != "smart-lamp-1.1.0.bin smart-lamp-1.0.0.bin" {
		t.Errorf("catalog of \".\" lists %v", got)
	}
	for _, q := range []string{"op=list&path=/../platforms", "path=/smart-lamp", "op=get&path=/smart-lamp"} {
		if res, _ := raw(t, port8000, httpClientGet(port8000, "ESP8266HTTPClient", "/_catalog?"+q)); res.StatusCode != 403 {
			t.Errorf("catalog ?%s: %d, want 403", q, res.StatusCode)
		}
	}

	// The user picks 1.1.0 on a lamp running 1.0.0: HTTPUpdate fetches
	// uri + '/' + name, with no version, and its MD5.
	headers := withoutVersion(esp8266(lamp, ""), md5hex(lamp10))
	res, body = raw(t, port8000, httpUpdateGet(port8000, "/smart-lamp/smart-lamp-1.1.0.bin", headers))
	if res.StatusCode != 200 || !bytes.Equal(body, lamp11) || res.Header.Get("x-MD5") != md5hex(lamp11) ||
		res.Header.Get("Content-Disposition") != "attachment; filename=smart-lamp-1.1.0.bin" {
		t.Fatalf("pick of 1.1.0: %d, %d bytes, %v", res.StatusCode, len(body), res.Header)
	}
	// With the default path the URL is /NAME.
	if res, body := raw(t, ts.addr, httpUpdateGet(ts.addr, "/smart-lamp-1.1.0.bin", headers)); res.StatusCode != 200 || !bytes.Equal(body, lamp11) {
		t.Errorf("pick of 1.1.0 by the default path: %d", res.StatusCode)
	}
	// A pick that is not the offer: 304, "No available update".
	if res, _ := raw(t, port8000, httpUpdateGet(port8000, "/smart-lamp/smart-lamp-1.0.0.bin", headers)); res.StatusCode != 304 {
		t.Errorf("pick of 1.0.0 on 1.0.0: %d, want 304", res.StatusCode)
	}
	// Once it runs 1.1.0 (its MD5 says so) nothing is served.
	after := withoutVersion(esp8266(lamp, ""), md5hex(lamp11))
	if res, _ := raw(t, port8000, httpUpdateGet(port8000, "/smart-lamp/smart-lamp-1.1.0.bin", after)); res.StatusCode != 304 {
		t.Errorf("pick of 1.1.0 on 1.1.0: %d, want 304", res.StatusCode)
	}
	// A device not whitelisted gets nothing.
	if res, _ := raw(t, port8000, httpUpdateGet(port8000, "/smart-lamp/smart-lamp-1.1.0.bin",
		withoutVersion(esp8266("18:FE:34:99:99:99", ""), md5hex(lamp10)))); res.StatusCode != 403 {
		t.Errorf("unknown lamp: %d, want 403", res.StatusCode)
	}
	sum := deviceSummary(t, ts, lamp)
	if sum.Offer == nil || sum.Offer.Version != "1.1.0" {
		t.Errorf("the pick was not recorded as an offer: %+v", sum)
	}
}

// deviceSummary reads a device's summary from the device API.
func deviceSummary(t *testing.T, ts *testServer, mac string) checkin.Device {
	t.Helper()
	res, err := http.Get("http://" + ts.addr + "/api/devices/" + mac)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Summary checkin.Device `json:"summary"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc.Summary
}

// espHTTPClientGet is a GET as ESP-IDF's esp_http_client sends it for the
// FUOTA app: HTTP/1.1, its User-Agent, basic auth given up front.
func espHTTPClientGet(addr, target string) string {
	auth := base64.StdEncoding.EncodeToString([]byte("fuota:secret"))
	return "GET " + target + " HTTP/1.1\r\nUser-Agent: ESP32 HTTP Client/1.0\r\nHost: " + addr +
		"\r\nAuthorization: Basic " + auth + "\r\n\r\n"
}

func TestFUOTAEndToEnd(t *testing.T) {
	ts, _ := clientsServer(t)
	ws21 := fsRead(t, "firmware/weather-station/weather-station-2.1.0.bin")

	// Step 1: the app's /devices/<DEV_ID>?app_ver=<version>.
	res, body := raw(t, ts.addr, espHTTPClientGet(ts.addr, "/devices/00001?app_ver=2.0.0"))
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/csv" {
		t.Fatalf("check on 2.0.0: %d %q: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	// The app reads Content-Length bytes into a 256-byte buffer and puts
	// them after "/files/" as they are.
	path := string(body)
	if len(body) > 255 || strings.ContainsAny(path, " \r\n\"?#%") {
		t.Fatalf("file path %q cannot go into the app's URL", path)
	}
	// Step 2: /files/<path>, through esp_https_ota.
	res, body = raw(t, ts.addr, espHTTPClientGet(ts.addr, "/files/"+path))
	if res.StatusCode != 200 || !bytes.Equal(body, ws21) {
		t.Fatalf("file %s: %d, %d bytes; want weather-station 2.1.0", path, res.StatusCode, len(body))
	}
	// The download's check-in is recorded once its last byte is written,
	// so the client can read the body before the server has recorded the
	// offer. A real device flashes and reboots before it asks again; wait
	// for the offer as the reboot would.
	testwait.For(t, "the download's offer recorded", func() bool {
		return deviceSummary(t, ts, "24:0A:C4:B2:00:03").Offer != nil
	})
	// Back on the new version: nothing to do, and the update took.
	if res, body := raw(t, ts.addr, espHTTPClientGet(ts.addr, "/devices/00001?app_ver=2.1.0")); res.StatusCode != 204 || len(body) != 0 {
		t.Errorf("check on 2.1.0: %d %q, want 204", res.StatusCode, body)
	}
	sum := deviceSummary(t, ts, "24:0A:C4:B2:00:03")
	if len(sum.Outcomes) != 1 || sum.Outcomes[0].Result != checkin.Success || sum.LastVersion != "2.1.0" {
		t.Errorf("outcome of the FUOTA update: %+v", sum)
	}
	// The MAC works as the id too; unknown ids, bad requests, other files.
	for _, tt := range []struct {
		target string
		status int
	}{
		{"/devices/24:0A:C4:B2:00:03?app_ver=2.0.0", 200},
		{"/devices/240ac4b20003?app_ver=2.1.0", 204},
		{"/devices/00002?app_ver=2.0.0", 404},
		{"/devices/00001", 400},
		{"/files/240AC4B20003/2.1.0/weather-station-2.1.0.bin", 404}, // not an update from 2.1.0
		{"/files/240AC4B20001/2.0.0/weather-station-2.1.0.bin", 200}, // the path of another whitelisted device: its own offer
		{"/files/240AC4B20003/2.0.0/smart-lamp-1.1.0.bin", 404},
	} {
		if res, body := raw(t, ts.addr, espHTTPClientGet(ts.addr, tt.target)); res.StatusCode != tt.status {
			t.Errorf("%s: %d, want %d (%s)", tt.target, res.StatusCode, tt.status, body)
		}
	}
}

// esp32FOTAVersion reads a version as esp32FOTA's SemverClass does
// (semver_parse_version): up to three '.'-separated integers, anything
// else in a part making the whole 0.0.0.
func esp32FOTAVersion(s string) [3]int {
	var v [3]int
	for i, part := range strings.SplitN(s, ".", 4) {
		n, err := strconv.Atoi(part)
		if err != nil || part == "" || part[0] == '+' || part[0] == '-' {
			return [3]int{}
		}
		if i < 3 {
			v[i] = n
		}
	}
	return v
}

// fotaURLs returns the image URLs esp32FOTA's checkJSONManifest takes from
// a manifest: url, else http(s)://host:port + bin (https only for ports
// 443 and 4433, port a JSON number) with the filesystem at the same host
// + littlefs, spiffs or fatfs.
func fotaURLs(m map[string]any) (firmware, filesystem string) {
	if u, ok := m["url"].(string); ok {
		return u, ""
	}
	host, okh := m["host"].(string)
	bin, okb := m["bin"].(string)
	port, okp := m["port"].(float64)
	if !okh || !okb || !okp || port != float64(uint16(port)) {
		return "", ""
	}
	scheme := "http"
	if port == 443 || port == 4433 {
		scheme = "https"
	}
	base := fmt.Sprintf("%s://%s:%d", scheme, host, int(port))
	for _, k := range []string{"littlefs", "spiffs", "fatfs"} {
		if p, ok := m[k].(string); ok {
			filesystem = base + p
			break
		}
	}
	return base + bin, filesystem
}

func newer(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return false
}

func TestESP32FOTAEndToEnd(t *testing.T) {
	ts, _ := clientsServer(t)
	ws21 := fsRead(t, "firmware/weather-station/weather-station-2.1.0.bin")
	// esp32FOTA fota("weather-station", "2.0.0") with use_device_id: the
	// manifest URL + "?id=" + the decimal of ESP.getEfuseMac() of
	// 24:0A:C4:B2:00:01, whose bytes read little-endian are 0x0100B2C40A24.
	const id = "1102510819876"
	check := func(target string) (map[string]any, []byte) {
		t.Helper()
		res, body := raw(t, ts.addr, httpClientGet(ts.addr, "ESP32HTTPClient", target))
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", target, res.StatusCode, body)
		}
		if len(body) > 2048 {
			t.Fatalf("manifest of %d bytes: esp32FOTA reads 2048", len(body))
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		return m, body
	}
	m, body := check("/fota/weather-station.json?id=" + id)
	version, _ := m["version"].(string)
	url, fsURL := fotaURLs(m)
	if m["type"] != "weather-station" || !newer(esp32FOTAVersion(version), esp32FOTAVersion("2.0.0")) || url == "" {
		t.Fatalf("manifest %s: esp32FOTA on 2.0.0 would not update", body)
	}
	// execOTA: the filesystem image first, then the app, each a GET of
	// its URL that must say its Content-Length.
	get := func(url string) []byte {
		t.Helper()
		target, ok := strings.CutPrefix(url, "http://"+ts.addr)
		if !ok {
			t.Fatalf("url %s does not point back at the server %s", url, ts.addr)
		}
		res, b := raw(t, ts.addr, httpClientGet(ts.addr, "ESP32HTTPClient", target))
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d", url, res.StatusCode)
		}
		return b
	}
	if fsURL == "" || !bytes.Equal(get(fsURL), stationFS()) {
		t.Fatalf("manifest %s: no filesystem image of 2.1.0", body)
	}
	if img := get(url); !bytes.Equal(img, ws21) {
		t.Fatalf("image: %d bytes; want weather-station 2.1.0", len(img))
	}
	target := strings.TrimPrefix(url, "http://"+ts.addr)
	// The same URL is no other device's, and no other release is behind
	// a URL like it.
	other := strings.Replace(target, "240AC4B20001", "240AC4B20009", 1)
	if res, _ := raw(t, ts.addr, httpClientGet(ts.addr, "ESP32HTTPClient", other)); res.StatusCode != 403 {
		t.Errorf("another device's URL: %d, want 403", res.StatusCode)
	}
	older := strings.Replace(target, "/2.1.0.bin", "/2.0.0.bin", 1)
	if res, _ := raw(t, ts.addr, httpClientGet(ts.addr, "ESP32HTTPClient", older)); res.StatusCode != 404 {
		t.Errorf("another release's URL: %d, want 404", res.StatusCode)
	}
	// Running 2.1.0, the sketch says so in its URL: not newer.
	m, body = check("/fota/weather-station.json?ver=2.1.0&id=" + id)
	if v, _ := m["version"].(string); newer(esp32FOTAVersion(v), esp32FOTAVersion("2.1.0")) {
		t.Errorf("manifest on 2.1.0 %s: esp32FOTA would update again", body)
	}
	// Anonymous: the platform allows it; smart-lamp does not.
	if m, body := check("/fota/weather-station.json"); m["version"] != "2.1.0" {
		t.Errorf("anonymous manifest %s", body)
	}
	if res, _ := raw(t, ts.addr, httpClientGet(ts.addr, "ESP32HTTPClient", "/fota/smart-lamp.json")); res.StatusCode != 403 {
		t.Errorf("anonymous smart-lamp manifest: %d, want 403", res.StatusCode)
	}
}

func TestESPHomeEndToEnd(t *testing.T) {
	ts, _ := clientsServer(t)
	ws21 := fsRead(t, "firmware/weather-station/weather-station-2.1.0.bin")
	// update: - platform: http_request, source: http://HOST/esphome/weather-station.json?id=garden%20station
	source := "http://" + ts.addr + "/esphome/weather-station.json?id=garden%20station"
	target := strings.TrimPrefix(source, "http://"+ts.addr)
	res, body := raw(t, ts.addr, httpClientGet(ts.addr, "ESPHome/2024.10.0 (https://esphome.io)", target))
	if res.StatusCode != 200 {
		t.Fatalf("manifest: %d %s", res.StatusCode, body)
	}
	// What HttpRequestUpdate::update() requires and does.
	var m struct {
		Name    *string `json:"name"`
		Version *string `json:"version"`
		Builds  []struct {
			ChipFamily *string            `json:"chipFamily"`
			OTA        *map[string]string `json:"ota"`
		} `json:"builds"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Name == nil || m.Version == nil || m.Builds == nil {
		t.Fatalf("manifest without name, version or builds: %s (%v)", body, err)
	}
	var ota map[string]string
	for _, b := range m.Builds {
		if b.ChipFamily == nil {
			t.Fatalf("build without chipFamily: %s", body)
		}
		if *b.ChipFamily == "ESP32" && b.OTA != nil { // ESPHOME_VARIANT of an esp32 build
			ota = *b.OTA
		}
	}
	if ota == nil || ota["path"] == "" || len(ota["md5"]) != 32 || *m.Version != "2.1.0" {
		t.Fatalf("no ESP32 build with ota path and md5, or version %v: %s", *m.Version, body)
	}
	// Joining path to the source as ESPHome does.
	url := ota["path"]
	if !strings.Contains(url, "http") {
		if url[0] == '/' {
			url = source[:strings.Index(source[8:], "/")+8] + url
		} else {
			url = source[:strings.LastIndex(source, "/")+1] + url
		}
	}
	res, img := raw(t, ts.addr, httpClientGet(ts.addr, "ESPHome/2024.10.0 (https://esphome.io)", strings.TrimPrefix(url, "http://"+ts.addr)))
	if res.StatusCode != 200 || md5hex(img) != ota["md5"] || !bytes.Equal(img, ws21) {
		t.Fatalf("image from %s: %d, %d bytes, MD5 %s; manifest says %s", url, res.StatusCode, len(img), md5hex(img), ota["md5"])
	}
	// Anonymous, and refused.
	if res, _ := raw(t, ts.addr, httpClientGet(ts.addr, "ESPHome", "/esphome/weather-station.json")); res.StatusCode != 200 {
		t.Errorf("anonymous manifest: %d", res.StatusCode)
	}
	if res, _ := raw(t, ts.addr, httpClientGet(ts.addr, "ESPHome", "/esphome/smart-lamp.json?id=nobody")); res.StatusCode != 403 {
		t.Errorf("unknown device: %d, want 403", res.StatusCode)
	}
}
