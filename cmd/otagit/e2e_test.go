package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otagit/otagit/access"
	"github.com/otagit/otagit/checkin"
	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testwait"
	"github.com/otagit/otagit/rollout"
	"github.com/otagit/otagit/server"
	"github.com/otagit/otagit/webhook"
)

// testServer is the real server on 127.0.0.1:0 serving repo.
type testServer struct {
	addr   string
	secret []byte
	// stop shuts the server down and waits for it; the test's cleanup
	// calls it too.
	stop func()
}

// startServer runs the server for repo until the test ends; configure, if
// given, adjusts the configuration (GitHub access, for example).
func startServer(t testing.TB, repo string, log *slog.Logger, configure ...func(*server.Config)) *testServer {
	t.Helper()
	ts := &testServer{secret: []byte("s3cret")}
	ready := make(chan string, 1)
	cfg := server.Config{
		Store: gitstore.Options{
			Remote:  gitstore.Remote{URL: repo, Branch: "main"},
			DataDir: t.TempDir(),
			Logger:  log,
		},
		Listeners:     []server.Listener{{Addr: "127.0.0.1:0", Operator: true}},
		CheckIns:      true,
		WebhookSecret: access.StaticSecret(string(ts.secret)),
		Logger:        log,
		Ready:         func(addrs []string) { ready <- addrs[0] },
	}
	for _, f := range configure {
		f(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := server.Run(ctx, cfg); err != nil {
			t.Errorf("server.Run: %v", err)
		}
	}()
	var once sync.Once
	ts.stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(ts.stop)
	ts.addr = testwait.Recv(t, "the server to start", ready)
	return ts
}

// deviceGet sends GET /update exactly as the ESP clients do: HTTP/1.0,
// Connection: close, one new connection per request.
func (ts *testServer) deviceGet(t testing.TB, target string, headers [][2]string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n", target, ts.addr)
	for _, h := range headers {
		fmt.Fprintf(&req, "%s: %s\r\n", h[0], h[1])
	}
	req.WriteString("\r\n")
	if _, err := conn.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// esp8266 returns the request headers of ESP8266httpUpdate (PROTOCOL.md).
func esp8266(mac, version string) [][2]string {
	h := [][2]string{
		{"User-Agent", "ESP8266-http-Update"},
		{"x-ESP8266-STA-MAC", mac},
		{"x-ESP8266-AP-MAC", "1A:FE:34:A1:00:01"},
		{"x-ESP8266-free-space", "2097152"},
		{"x-ESP8266-sketch-size", "307200"},
		{"x-ESP8266-sketch-md5", "0123456789abcdef0123456789abcdef"},
		{"x-ESP8266-chip-size", "4194304"},
		{"x-ESP8266-sdk-version", "2.2.2-dev(38a443e)"},
		{"x-ESP8266-mode", "sketch"},
		{"Content-Length", "0"},
	}
	if version != "" {
		h = append(h, [2]string{"x-ESP8266-version", version})
	}
	return h
}

// esp32 returns the request headers of ESP32 HTTPUpdate (PROTOCOL.md).
func esp32(mac, version string) [][2]string {
	h := [][2]string{
		{"User-Agent", "ESP32-http-Update"},
		{"x-ESP32-STA-MAC", mac},
		{"x-ESP32-AP-MAC", "24:0A:C4:B2:00:02"},
		{"x-ESP32-free-space", "1966080"},
		{"x-ESP32-sketch-size", "917504"},
		{"x-ESP32-sketch-md5", "0123456789abcdef0123456789abcdef"},
		{"x-ESP32-chip-size", "4194304"},
		{"x-ESP32-sdk-version", "v4.4.5"},
		{"x-ESP32-mode", "sketch"},
		{"Cache-Control", "no-cache"},
	}
	if version != "" {
		h = append(h, [2]string{"x-ESP32-version", version})
	}
	return h
}

func (ts *testServer) webhook(t testing.TB, event string, body []byte, signature string) int {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+ts.addr+"/webhook/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	req.Header.Set("X-Hub-Signature-256", signature)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func (ts *testServer) push(t testing.TB, commit string) int {
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":%q,"repository":{"full_name":"acme/fleet"},"pusher":{"name":"dev"}}`, commit))
	return ts.webhook(t, "push", body, webhook.Sign(ts.secret, body))
}

func (ts *testServer) status(t testing.TB) gitstore.Status {
	t.Helper()
	res, err := http.Get("http://" + ts.addr + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st gitstore.Status
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitUntil waits until cond holds, as testwait.For does, and returns how
// long that took.
func waitUntil(t testing.TB, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	testwait.For(t, what, cond)
	return time.Since(start)
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func TestEndToEnd(t *testing.T) {
	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	first := repo.CommitPush("starter config")
	var logs syncBuffer
	// Debug level: the store logs each sync requested (below).
	ts := startServer(t, repo.Bare, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	waitUntil(t, "first commit served", func() bool { return ts.status(t).Commit == first })

	lamp := "18:FE:34:A1:00:01"
	station := "24:0A:C4:B2:00:01"

	// The Flask seed's URL, unchanged, as an ESP8266 sends it.
	res, body := ts.deviceGet(t, "/update?dev=smart-lamp&ver=v1.0.0", esp8266(lamp, ""))
	want11 := fsRead(t, "firmware/smart-lamp/smart-lamp-1.1.0.bin")
	if res.StatusCode != 200 || !bytes.Equal(body, want11) {
		t.Fatalf("ESP8266 on 1.0.0: got %d with %d bytes, want 200 with smart-lamp 1.1.0", res.StatusCode, len(body))
	}
	if res.ContentLength != int64(len(want11)) || res.Header.Get("x-MD5") != md5hex(want11) ||
		res.Header.Get("Content-Type") != "application/octet-stream" || res.Header.Get("Content-Disposition") == "" {
		t.Errorf("ESP8266 headers: %v", res.Header)
	}
	if !res.Close {
		t.Errorf("HTTP/1.0 request: the server must close the connection")
	}
	// A stock client with no query string, version in the header.
	if res, _ := ts.deviceGet(t, "/update", esp8266(lamp, "1.1.0")); res.StatusCode != 304 {
		t.Errorf("ESP8266 on 1.1.0: got %d, want 304", res.StatusCode)
	}
	// ESP32, platform from its whitelist entry.
	res, body = ts.deviceGet(t, "/update", esp32(station, "2.0.0"))
	want21 := fsRead(t, "firmware/weather-station/weather-station-2.1.0.bin")
	if res.StatusCode != 200 || !bytes.Equal(body, want21) || res.Header.Get("x-MD5") != md5hex(want21) {
		t.Fatalf("ESP32 on 2.0.0: got %d with %d bytes", res.StatusCode, len(body))
	}
	if res, _ := ts.deviceGet(t, "/update", esp32("24:0A:C4:99:99:99", "2.0.0")); res.StatusCode != 403 {
		t.Errorf("unknown ESP32: got %d, want 403", res.StatusCode)
	}

	// Roll out smart-lamp 1.2.0: push, signed webhook, served.
	img12 := testrepo.Image(t, "esp8266", "smart-lamp", "1.2.0", 16<<10)
	repo.Write("firmware/smart-lamp/smart-lamp-1.2.0.bin", img12)
	repo.WriteString("platforms/smart-lamp.toml", mustRead(t, repo, "platforms/smart-lamp.toml")+
		"\n[[release]]\nversion = \"1.2.0\"\nfile = \"firmware/smart-lamp/smart-lamp-1.2.0.bin\"\n")
	second := repo.CommitPush("smart-lamp 1.2.0")
	start := time.Now()
	if code := ts.push(t, second); code != http.StatusAccepted {
		t.Fatalf("push webhook: got %d, want 202", code)
	}
	waitUntil(t, "1.2.0 served", func() bool {
		res, body := ts.deviceGet(t, "/update", esp8266(lamp, "1.1.0"))
		return res.StatusCode == 200 && bytes.Equal(body, img12)
	})
	t.Logf("signed push webhook -> new release served: %v", time.Since(start))

	// A bad signature is refused and triggers nothing. (The snapshot is
	// published just before the sync's status is, so wait for the latter.)
	// The handler would trigger a sync before answering, and the store,
	// idle now, logs a sync requested as it queues one: counting those
	// records after the answers needs no waiting for a sync that might
	// come.
	waitUntil(t, "status of the sync", func() bool { return ts.status(t).Commit == second })
	syncs := ts.status(t).Syncs
	requested := func() int { return strings.Count(logs.String(), `msg="sync requested"`) }
	before := requested()
	if before == 0 {
		t.Fatalf("no sync requested logged for the push; logs:\n%s", logs.String())
	}
	body = []byte(`{"ref":"refs/heads/main"}`)
	if code := ts.webhook(t, "push", body, webhook.Sign([]byte("wrong"), body)); code != http.StatusUnauthorized {
		t.Errorf("bad signature: got %d, want 401", code)
	}
	if code := ts.webhook(t, "ping", []byte(`{"zen":"hi"}`), webhook.Sign(ts.secret, []byte(`{"zen":"hi"}`))); code != 200 {
		t.Errorf("ping: got %d, want 200", code)
	}
	if got := requested(); got != before {
		t.Errorf("syncs requested by a refused webhook and a ping: got %d, want none", got-before)
	}
	if got := ts.status(t).Syncs; got != syncs {
		t.Errorf("syncs after a refused webhook and a ping: got %d, want %d", got, syncs)
	}

	// A broken commit: the old one keeps serving, the error is in /api/status.
	repo.WriteString("devices/office.toml", "[[device]]\nmac = \"18:FE:34:A1:00:01\"\nplatform = \"smart-lamp\"\nfloor = 3\n")
	broken := repo.CommitPush("broken whitelist")
	if code := ts.push(t, broken); code != http.StatusAccepted {
		t.Fatalf("push webhook: got %d", code)
	}
	waitUntil(t, "broken commit rejected", func() bool { return ts.status(t).RejectedCommit == broken })
	st := ts.status(t)
	if st.Commit != second {
		t.Errorf("serving %s, want %s", st.Commit, second)
	}
	if len(st.Problems) != 1 || st.Problems[0].String() != "devices/office.toml:4: device[0].floor: unknown key (allowed here: mac, platform, name, channel, groups, pin)" {
		t.Errorf("problems: %v", st.Problems)
	}
	if res, body := ts.deviceGet(t, "/update", esp8266(lamp, "1.1.0")); res.StatusCode != 200 || !bytes.Equal(body, img12) {
		t.Errorf("after broken commit: got %d, want 1.2.0 still served", res.StatusCode)
	}
	if !strings.Contains(logs.String(), "device request") || !strings.Contains(logs.String(), "commit rejected") {
		t.Errorf("logs lack device requests or the rejection:\n%s", logs.String())
	}
}

// fsRead reads a file of the starter template.
func fsRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(repotemplate.FS(), name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustRead reads a file of r's work tree.
func mustRead(t testing.TB, r *testrepo.Repo, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.Work, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestCheckInsSurviveShutdown: every check-in answered before a clean
// shutdown is in DATA/checkins.db afterwards.
func TestCheckInsSurviveShutdown(t *testing.T) {
	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	first := repo.CommitPush("starter config")
	data := t.TempDir()
	ts := startServer(t, repo.Bare, slog.New(slog.NewTextHandler(io.Discard, nil)), func(c *server.Config) { c.Store.DataDir = data })
	waitUntil(t, "first commit", func() bool { return ts.status(t).Commit == first })
	macs := []string{"18:FE:34:A1:00:01", "18:FE:34:A1:00:02"}
	versions := []string{"0.9.0", "1.0.0", "1.1.0"}
	for _, v := range versions {
		for _, m := range macs {
			ts.deviceGet(t, "/update", esp8266(m, v))
		}
	}
	ts.stop()

	db, err := checkin.OpenBolt(filepath.Join(data, "checkins.db"), checkin.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, m := range macs {
		mac, _ := rollout.ParseMAC(m)
		hist, err := db.History(context.Background(), mac, 0)
		if err != nil || len(hist) != len(versions) {
			t.Errorf("%s: %d check-ins saved (%v), want %d", m, len(hist), err, len(versions))
		}
	}
	devs, _ := db.LoadDevices(context.Background())
	if len(devs) != len(macs) {
		t.Errorf("device summaries saved: %d, want %d", len(devs), len(macs))
	}
}
