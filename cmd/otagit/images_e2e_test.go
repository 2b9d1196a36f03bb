package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/server"
)

// The end-to-end tests of filesystem images, version queries and gzip
// images: the real server on 127.0.0.1:0, a bare Git repository, and
// requests sent byte for byte as ESP8266httpUpdate sends them (HTTP/1.0).

const lampMAC = "18:FE:34:A1:00:01"

// lampRepo is a config repository with an esp8266 platform "lamp" (the
// given platform keys and releases) and one whitelisted lamp.
func lampRepo(t *testing.T, platform string, files map[string][]byte) (*testrepo.Repo, string) {
	t.Helper()
	r := testrepo.New(t)
	r.WriteString("platforms/lamp.toml", platform)
	r.WriteString("devices/lamps.toml", "[[device]]\nmac = \""+lampMAC+"\"\nplatform = \"lamp\"\n")
	for name, data := range files {
		r.Write(name, data)
	}
	return r, r.CommitPush("lamp")
}

// arduinoImage is an ESP8266 image with the Arduino core's layout, which
// compresses about as well as real firmware.
func arduinoImage(t *testing.T, version string, size int) []byte {
	t.Helper()
	b, err := espimage.Build(espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "lamp", Version: version, Size: size, Arduino: true, Compressible: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sketchMD5 is what ESP.getSketchMD5() reports once img runs: the MD5 of
// flash from 0 to the end of the application after eboot (Esp.cpp).
func sketchMD5(t *testing.T, img []byte) string {
	t.Helper()
	s, err := espimage.Scan(bytes.NewReader(img), 1<<30)
	if err != nil || s.FlashedMD5 == "" {
		t.Fatalf("no sketch in the image: %v", err)
	}
	if s.FlashedMD5 != md5hex(img[:s.SketchLen]) {
		t.Fatal("Scan's flashed MD5 is not the MD5 of the sketch")
	}
	return s.FlashedMD5
}

// lampGet polls /update as the lamp, in mode, reporting version and md5.
func (ts *testServer) lampGet(t *testing.T, mode, version, md5 string) (*http.Response, []byte) {
	t.Helper()
	h := esp8266(lampMAC, version)
	for i := range h {
		switch h[i][0] {
		case "x-ESP8266-mode":
			h[i][1] = mode
		case "x-ESP8266-sketch-md5":
			if md5 != "" {
				h[i][1] = md5
			}
		}
	}
	return ts.deviceGet(t, "/update", h)
}

// summary returns the lamp's check-in summary from the device API.
func (ts *testServer) summary(t *testing.T) checkin.Device {
	t.Helper()
	res, err := http.Get("http://" + ts.addr + "/api/devices/" + lampMAC)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Summary *checkin.Device `json:"summary"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary == nil {
		return checkin.Device{}
	}
	return *doc.Summary
}

// wantImage checks a 200 the way ESP8266httpUpdate does: status, exact
// Content-Length, x-MD5 of the body; and the body against want.
func wantImage(t *testing.T, what string, res *http.Response, body, want []byte) {
	t.Helper()
	if res.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Fatalf("%s: got %d with %d bytes, want 200 with %d bytes", what, res.StatusCode, len(body), len(want))
	}
	if res.Header.Get("Content-Length") != strconv.Itoa(len(want)) || res.Header.Get("x-MD5") != md5hex(body) || len(res.TransferEncoding) > 0 {
		t.Errorf("%s: Content-Length %q, x-MD5 %q, transfer encoding %v; want %d, %s, none", what,
			res.Header.Get("Content-Length"), res.Header.Get("x-MD5"), res.TransferEncoding, len(want), md5hex(body))
	}
}

func wantStatus(t *testing.T, what string, res *http.Response, body []byte, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Errorf("%s: got %d (%d body bytes), want %d", what, res.StatusCode, len(body), status)
	}
}

// TestUpdateFSThenUpdate is the usual sketch: updateFS(), then update().
func TestUpdateFSThenUpdate(t *testing.T) {
	app10, app11 := arduinoImage(t, "1.0.0", 32<<10), arduinoImage(t, "1.1.0", 32<<10)
	fs11 := bytes.Repeat([]byte{0xFF}, 16<<10)
	copy(fs11[8:], "littlefs")
	repo, commit := lampRepo(t, `chip = "esp8266"
[[release]]
version = "1.0.0"
file = "fw/lamp-1.0.0.bin"
[[release]]
version = "1.1.0"
file = "fw/lamp-1.1.0.bin"
filesystem = "fw/lamp-fs-1.1.0.bin"
`, map[string][]byte{"fw/lamp-1.0.0.bin": app10, "fw/lamp-1.1.0.bin": app11, "fw/lamp-fs-1.1.0.bin": fs11})
	data := t.TempDir()
	start := func() *testServer {
		ts := startServer(t, repo.Bare, slog.New(slog.NewTextHandler(io.Discard, nil)), func(c *server.Config) { c.Store.DataDir = data })
		waitUntil(t, "commit served", func() bool { return ts.status(t).Commit == commit })
		return ts
	}
	ts := start()

	// updateFS() on 1.0.0: the filesystem of 1.1.0, the release it is
	// offered as an app.
	res, body := ts.lampGet(t, "spiffs", "1.0.0", "")
	wantImage(t, "updateFS on 1.0.0", res, body, fs11)
	waitUntil(t, "filesystem recorded", func() bool { return ts.summary(t).Filesystem != nil })

	// It took it: the same image is not sent again, however often the
	// sketch asks before its app update goes through, and none of that is
	// a failed update.
	for range 4 {
		res, body = ts.lampGet(t, "spiffs", "1.0.0", "")
		wantStatus(t, "updateFS again", res, body, 304)
	}
	if sum := ts.summary(t); len(sum.Outcomes) != 0 || sum.Offer != nil {
		t.Errorf("filesystem polls made an offer or outcome: %+v", sum)
	}

	// update(): the app.
	res, body = ts.lampGet(t, "sketch", "1.0.0", "")
	wantImage(t, "update on 1.0.0", res, body, app11)
	waitOffer(t, ts)

	// The device reboots into 1.1.0: nothing more to get, and the update
	// succeeded.
	res, body = ts.lampGet(t, "spiffs", "1.1.0", sketchMD5(t, app11))
	wantStatus(t, "updateFS on 1.1.0", res, body, 304)
	res, body = ts.lampGet(t, "sketch", "1.1.0", sketchMD5(t, app11))
	wantStatus(t, "update on 1.1.0", res, body, 304)
	waitUntil(t, "outcome", func() bool { s := ts.summary(t); return len(s.Outcomes) > 0 })
	if o := ts.summary(t).Outcomes[0]; o.Result != checkin.Success || o.Version != "1.1.0" {
		t.Errorf("outcome: %+v, want success of 1.1.0", o)
	}

	// What the server remembers survives a restart: a device that took the
	// filesystem, then failed its app update, is still not sent it again.
	ts.stop()
	ts = start()
	if s := ts.summary(t); s.Filesystem == nil || s.Filesystem.SHA256 != digest(fs11) {
		t.Fatalf("after restart: filesystem record %+v", s.Filesystem)
	}
	res, body = ts.lampGet(t, "spiffs", "1.0.0", "")
	wantStatus(t, "updateFS on 1.0.0 after a restart", res, body, 304)
}

// TestVersionMode is getAvailableVersion() (ESP8266 core 3.2+): 200 with
// x-version, even when it runs that version; refusals keep their status.
func TestVersionMode(t *testing.T) {
	app10, app11 := arduinoImage(t, "1.0.0", 8192), arduinoImage(t, "1.1.0", 8192)
	repo, commit := lampRepo(t, "chip = \"esp8266\"\n[[release]]\nversion = \"1.0.0\"\nfile = \"fw/a.bin\"\n[[release]]\nversion = \"1.1.0\"\nfile = \"fw/b.bin\"\n",
		map[string][]byte{"fw/a.bin": app10, "fw/b.bin": app11})
	ts := startServer(t, repo.Bare, slog.New(slog.NewTextHandler(io.Discard, nil)))
	waitUntil(t, "commit served", func() bool { return ts.status(t).Commit == commit })
	for _, tt := range []struct{ version, want string }{{"1.0.0", "1.1.0"}, {"v1.0.0", "v1.1.0"}, {"1.1.0", "1.1.0"}} {
		res, body := ts.lampGet(t, "version", tt.version, "")
		if res.StatusCode != 200 || res.Header.Get("x-version") != tt.want || res.ContentLength != 0 || len(body) != 0 {
			t.Errorf("version on %s: got %d, x-version %q, Content-Length %d; want 200, %s, 0", tt.version, res.StatusCode, res.Header.Get("x-version"), res.ContentLength, tt.want)
		}
	}
	res, _ := ts.deviceGet(t, "/update", append(esp8266("18:FE:34:99:99:99", "1.0.0"), [2]string{"x-ESP8266-mode", "version"}))
	if res.StatusCode != 403 {
		t.Errorf("version query of an unknown device: got %d, want 403", res.StatusCode)
	}
	if sum := ts.summary(t); sum.Offer != nil {
		t.Errorf("a version query made an offer: %+v", sum.Offer)
	}
}

// TestGzipPlatform: gzip = true serves each image compressed, made once
// when it enters the cache; the device flashes the image and then reports
// its MD5, which is "already running" and a success.
func TestGzipPlatform(t *testing.T) {
	app10, app11 := arduinoImage(t, "1.0.0", 64<<10), arduinoImage(t, "1.1.0", 64<<10)
	repo, commit := lampRepo(t, "chip = \"esp8266\"\ngzip = true\n[[release]]\nversion = \"1.0.0\"\nfile = \"fw/a.bin\"\n[[release]]\nversion = \"1.1.0\"\nfile = \"fw/b.bin\"\n",
		map[string][]byte{"fw/a.bin": app10, "fw/b.bin": app11})
	ts := startServer(t, repo.Bare, slog.New(slog.NewTextHandler(io.Discard, nil)))
	waitUntil(t, "commit served", func() bool { return ts.status(t).Commit == commit })

	res, body := ts.lampGet(t, "sketch", "1.0.0", sketchMD5(t, app10))
	var want bytes.Buffer
	gzipCompress(t, &want, app11)
	wantImage(t, "gzip update", res, body, want.Bytes())
	if len(body) >= len(app11) {
		t.Errorf("sent %d bytes for a %d-byte image: nothing saved", len(body), len(app11))
	}
	if body[0] != 0x1F || res.Header.Get("Content-Encoding") != "" {
		t.Errorf("want a gzip image sent as plain bytes (the device inflates it), got first byte %#x, Content-Encoding %q", body[0], res.Header.Get("Content-Encoding"))
	}
	if got := inflate(t, body); !bytes.Equal(got, app11) {
		t.Fatal("the body does not inflate to the image")
	}
	if res, again := ts.lampGet(t, "sketch", "1.0.0", sketchMD5(t, app10)); !bytes.Equal(again, body) || res.Header.Get("x-MD5") != md5hex(body) {
		t.Error("a second download differs: compressed per request?")
	}
	waitOffer(t, ts)
	// Flashed, rebooted, a sketch whose version string was not bumped:
	// the MD5 of the flashed image says it runs 1.1.0.
	res, body = ts.lampGet(t, "sketch", "1.0.0", sketchMD5(t, app11))
	wantStatus(t, "after flashing the gzip image", res, body, 304)
	waitUntil(t, "outcome", func() bool { return len(ts.summary(t).Outcomes) > 0 })
	if o := ts.summary(t).Outcomes[0]; o.Result != checkin.Success || o.Version != "1.1.0" {
		t.Errorf("outcome: %+v, want success of 1.1.0", o)
	}
}

// TestCommittedGzip: a committed .bin.gz (as Tasmota ships them) is served
// as it is; sketch-md5 of the decompressed image is "already running", and
// a success.
func TestCommittedGzip(t *testing.T) {
	app10, app11 := arduinoImage(t, "1.0.0", 64<<10), arduinoImage(t, "1.1.0", 64<<10)
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(app11)
	zw.Close()
	repo, commit := lampRepo(t, "chip = \"esp8266\"\n[[release]]\nversion = \"1.0.0\"\nfile = \"fw/a.bin\"\n[[release]]\nversion = \"1.1.0\"\nfile = \"fw/tasmota.bin.gz\"\n",
		map[string][]byte{"fw/a.bin": app10, "fw/tasmota.bin.gz": gz.Bytes()})
	ts := startServer(t, repo.Bare, slog.New(slog.NewTextHandler(io.Discard, nil)))
	waitUntil(t, "commit served", func() bool { return ts.status(t).Commit == commit })

	res, body := ts.lampGet(t, "sketch", "1.0.0", sketchMD5(t, app10))
	wantImage(t, "committed gzip update", res, body, gz.Bytes())
	if cd := res.Header.Get("Content-Disposition"); cd != "attachment; filename=lamp-1.1.0.bin.gz" {
		t.Errorf("Content-Disposition %q", cd)
	}
	waitOffer(t, ts)
	// The endless re-download: the device reports the MD5 of the
	// decompressed image, which is not the x-MD5 it downloaded.
	res, body = ts.lampGet(t, "sketch", "1.0.0", sketchMD5(t, app11))
	wantStatus(t, "running the decompressed image", res, body, 304)
	waitUntil(t, "outcome", func() bool { return len(ts.summary(t).Outcomes) > 0 })
	if o := ts.summary(t).Outcomes[0]; o.Result != checkin.Success {
		t.Errorf("outcome: %+v, want success", o)
	}
	// The download's own MD5 is no running sketch's.
	res, body = ts.lampGet(t, "sketch", "1.0.0", md5hex(gz.Bytes()))
	wantImage(t, "the download's MD5 reported", res, body, gz.Bytes())
}

// waitOffer waits until the server has recorded the offer it just made
// (check-ins are recorded after the answer is sent): a device asks again
// only after flashing and rebooting.
func waitOffer(t *testing.T, ts *testServer) {
	t.Helper()
	waitUntil(t, "offer recorded", func() bool { return ts.summary(t).Offer != nil })
}

func gzipCompress(t *testing.T, w io.Writer, b []byte) {
	t.Helper()
	// The server's one compression format.
	if err := artifact.Compress(w, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

func inflate(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func digest(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
