package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otagit/otagit/access"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/chromium"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testwait"
	"github.com/otagit/otagit/webhook"
)

// The browser test runs with OTAGIT_BROWSER_TEST=1 (.ci/run sets it and
// installs Chromium): it starts the real server on a fixture fleet, feeds
// it four simulated days of device polls through GET /update, and loads
// every dashboard page in headless Chromium, checking the DOM and saving
// screenshots to $OTAGIT_SCREENSHOTS (default: a temporary directory).
const (
	envBrowserTest = "OTAGIT_BROWSER_TEST"
	envScreenshots = "OTAGIT_SCREENSHOTS"
)

// simFleet is the browser test's fleet: lamps (ESP8266) and plugs
// (ESP32-C3). One lamp in nine and one plug in three fail their updates:
// they download, reboot and come back on the old version.
type simFleet struct {
	addr    string
	lamps   int
	plugs   int
	mu      sync.Mutex
	running map[string]string // MAC -> version it runs
}

func lampMAC(i int) string { return fmt.Sprintf("18:FE:34:10:%02X:%02X", i>>8, i&0xFF) }
func plugMAC(i int) string { return fmt.Sprintf("24:0A:C4:20:%02X:%02X", i>>8, i&0xFF) }

func (f *simFleet) failing(mac string, i int) bool {
	if strings.HasPrefix(mac, "24:") {
		return i%3 == 0
	}
	return i%9 == 4
}

// poll sends the stock client's GET /update for device i, as the device
// runs now, and flashes what it is offered unless it fails its updates.
func (f *simFleet) poll(t *testing.T, plug bool, i int) {
	mac, chip, platform := lampMAC(i), "ESP8266", "lamp"
	if plug {
		mac, chip, platform = plugMAC(i), "ESP32", "plug"
	}
	f.mu.Lock()
	version := f.running[mac]
	f.mu.Unlock()
	conn, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET /update?dev=%s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\nUser-Agent: %s-http-Update\r\n", platform, f.addr, chip)
	for _, h := range [][2]string{{"STA-MAC", mac}, {"version", version}, {"free-space", "1966080"}, {"chip-size", "4194304"},
		{"sketch-md5", "0123456789abcdef0123456789abcdef"}, {"mode", "sketch"}} {
		fmt.Fprintf(&req, "x-%s-%s: %s\r\n", chip, h[0], h[1])
	}
	req.WriteString("\r\n")
	if _, err := conn.Write(req.Bytes()); err != nil {
		t.Error(err)
		return
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Error(err)
		return
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
		if !f.failing(mac, i) {
			offered := strings.TrimSuffix(strings.TrimPrefix(res.Header.Get("Content-Disposition"), "attachment; filename="+platform+"-"), ".bin")
			f.mu.Lock()
			f.running[mac] = offered
			f.mu.Unlock()
		}
	case http.StatusNotModified:
	default:
		t.Errorf("%s: status %d", mac, res.StatusCode)
	}
}

// round polls every device once, a few at a time.
func (f *simFleet) round(t *testing.T) {
	work := make(chan [2]int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for w := range work {
				f.poll(t, w[0] == 1, w[1])
			}
		})
	}
	for i := range f.lamps {
		work <- [2]int{0, i}
	}
	for i := range f.plugs {
		work <- [2]int{1, i}
	}
	close(work)
	wg.Wait()
}

// fleetRepo writes the platforms and whitelists of the browser test.
func fleetRepo(t *testing.T, lamps, plugs int) *testrepo.Repo {
	repo := testrepo.New(t)
	var wl strings.Builder
	for i := range lamps {
		fmt.Fprintf(&wl, "[[device]]\nmac = %q\nplatform = \"lamp\"\nname = \"lamp %03d\"\n\n", lampMAC(i), i)
	}
	repo.WriteString("devices/lamps.toml", wl.String())
	wl.Reset()
	for i := range plugs {
		fmt.Fprintf(&wl, "[[device]]\nmac = %q\nplatform = \"plug\"\nname = \"plug %03d\"\n\n", plugMAC(i), i)
	}
	repo.WriteString("devices/plugs.toml", wl.String())
	return repo
}

func addRelease(t *testing.T, repo *testrepo.Repo, chip espimage.Chip, platform, version string) {
	repo.Write("firmware/"+platform+"-"+version+".bin", testrepo.Image(t, chip, platform, version, 4096))
}

func TestDashboardInBrowser(t *testing.T) {
	if os.Getenv(envBrowserTest) == "" {
		t.Skip("browser test: set " + envBrowserTest + "=1 (and install Debian's chromium) to run it")
	}
	bin, err := chromium.Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser test under CI: %v (.ci/run installs Debian's chromium)", err)
		}
		t.Skipf("browser test: %v; apt-get install chromium", err)
	}
	shots := os.Getenv(envScreenshots)
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	// Four simulated days that end now, so that the server's own times
	// (when it synced, when it published) fit the simulated ones.
	const lamps, plugs, day = 120, 45, 24 * time.Hour
	end := time.Now().UTC()
	t0 := end.Add(-4 * day)
	var clock atomic.Pointer[time.Time]
	clock.Store(&t0)
	now := func() time.Time { return *clock.Load() }

	repo := fleetRepo(t, lamps, plugs)
	addRelease(t, repo, "esp8266", "lamp", "1.0.0")
	addRelease(t, repo, "esp32c3", "plug", "2.0.0")
	repo.WriteString("platforms/lamp.toml", "chip = \"esp8266\"\ndescription = \"Desk and floor lamps\"\n\n"+
		"[[release]]\nversion = \"1.0.0\"\nfile = \"firmware/lamp-1.0.0.bin\"\n")
	repo.WriteString("platforms/plug.toml", "chip = \"esp32c3\"\ndescription = \"Smart plugs\"\n\n"+
		"[[release]]\nversion = \"2.0.0\"\nfile = \"firmware/plug-2.0.0.bin\"\n")
	repo.CommitAt("The fleet as installed", t0.Add(-10*day))
	// At t0: lamp 1.1.0 in three stages; plug 2.1.0 for all, halting at
	// 25% failures.
	addRelease(t, repo, "esp8266", "lamp", "1.1.0")
	addRelease(t, repo, "esp32c3", "plug", "2.1.0")
	appendFile(t, repo, "platforms/lamp.toml", "\n[[release]]\nversion = \"1.1.0\"\nfile = \"firmware/lamp-1.1.0.bin\"\n"+
		"stages = [{percent = 10}, {percent = 50, after = \"1d\"}, {percent = 100, after = \"2d\"}]\n")
	appendFile(t, repo, "platforms/plug.toml", "\n[[release]]\nversion = \"2.1.0\"\nfile = \"firmware/plug-2.1.0.bin\"\n"+
		"halt_on_failure = \"25%\"\nhalt_min_devices = 4\n")
	first := repo.CommitAt("lamp 1.1.0 staged; plug 2.1.0", t0)
	repo.Push()

	secret := []byte("browser-test")
	srv := start(t, repo.Bare, func(c *Config) { c.Now, c.WebhookSecret = now, access.StaticSecret(string(secret)) })
	addr := srv.addrs[0]
	waitServing(t, addr, first)
	fleet := &simFleet{addr: addr, lamps: lamps, plugs: plugs, running: map[string]string{}}
	for i := range lamps {
		fleet.running[lampMAC(i)] = "1.0.0"
	}
	for i := range plugs {
		fleet.running[plugMAC(i)] = "2.0.0"
	}

	// Every device polls every three hours; at 2.5 days lamp 1.2.0 comes,
	// in two stages.
	pushed := false
	for at := t0; at.Before(end); at = at.Add(3 * time.Hour) {
		clock.Store(&at)
		if !pushed && at.Sub(t0) >= 60*time.Hour {
			addRelease(t, repo, "esp8266", "lamp", "1.2.0")
			appendFile(t, repo, "platforms/lamp.toml", "\n[[release]]\nversion = \"1.2.0\"\nfile = \"firmware/lamp-1.2.0.bin\"\n"+
				"stages = [{percent = 25}, {percent = 100, after = \"1d\"}]\n")
			c := repo.CommitAt("lamp 1.2.0: brightness curve", at)
			repo.Push()
			pushWebhook(t, addr, secret, c)
			waitServing(t, addr, c)
			pushed = true
		}
		fleet.round(t)
	}
	clock.Store(&end)
	// A broken commit: rejected with both its errors, the last good one
	// keeps serving.
	appendFile(t, repo, "platforms/lamp.toml", "\n[[release]]\nversion = \"1.3\"\nfile = \"firmware/lamp-1.3.0.bin\"\n")
	appendFile(t, repo, "devices/lamps.toml", "[[device]]\nmac = \"18:FE:34\"\nplatform = \"lamp\"\n")
	bad := repo.CommitAt("lamp 1.3 (broken)", end)
	repo.Push()
	pushWebhook(t, addr, secret, bad)
	st := waitStatus(t, addr, "the broken commit rejected and every check-in saved", func(st statusView) bool { return st.RejectedCommit == bad && st.Recording.Queued == 0 })
	if len(st.Problems) < 2 {
		t.Fatalf("rejected commit: %d problems, want at least 2: %+v", len(st.Problems), st.Problems)
	}
	// The pages' now: after the server's last sync, which took real time.
	final := time.Now().UTC()
	clock.Store(&final)

	browser := &chromium.Browser{Path: bin, Profile: t.TempDir(), Width: 1280, Height: 1500}
	failingLamp := lampMAC(4)
	pages := []struct {
		name, path string
		want       []string
		check      func(t *testing.T, dom string)
	}{
		{"overview", "/", []string{
			"Commit rejected", bad[:12], "still serving",
			"platforms/lamp.toml:", "devices/lamps.toml:", // every problem, with file and line
			"1 release halted", "plug 2.1.0", "updates failed",
			`href="/ui/platforms/lamp"`, "Desk and floor lamps",
		}, nil},
		{"platforms", "/ui/platforms", []string{"lamp", "plug", "2.1.0 halted", "Versions now:"}, nil},
		{"platform-lamp", "/ui/platforms/lamp", []string{
			`<svg class="adoption"`, "Share of lamp devices on each version over time",
			"Stage timeline of lamp 1.2.0", "Stage timeline of lamp 1.1.0", "stage 3 of 3, 100% (last)",
			`id="release-1.0.0"`,
		}, func(t *testing.T, dom string) {
			// Every version devices ran has a band and a legend entry.
			for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
				if !regexp.MustCompile(`<li>.*?</svg> ` + regexp.QuoteMeta(v) + `: \d+(\.\d)?% \(\d+ devices\)</li>`).MatchString(dom) {
					t.Errorf("lamp: no legend entry for %s", v)
				}
			}
		}},
		{"platform-plug", "/ui/platforms/plug", []string{`<span class="badge bad">halted</span>`, "over the 25% threshold"}, nil},
		{"devices-failed", "/ui/devices?platform=lamp&outcome=failure", []string{failingLamp}, func(t *testing.T, dom string) {
			rows := regexp.MustCompile(`<td class="state [a-z]+">([^<]*)</td>`).FindAllStringSubmatch(dom, -1)
			if len(rows) == 0 {
				t.Error("failed lamps: none listed")
			}
			for _, r := range rows {
				if !strings.Contains(r[1], "failed") {
					t.Errorf("failed lamps: a row says %q", r[1])
				}
			}
		}},
		{"devices-search", "/ui/devices?q=lamp+01", []string{"lamp 010", "lamp 019", "Devices 1–10 of 10"}, nil},
		{"device", "/ui/devices/" + failingLamp, []string{"lamp 004", "Decision now", "Recent check-ins", `<td class="state bad">failure</td>`}, nil},
	}
	for _, p := range pages {
		page, err := browser.Load(context.Background(), "http://"+addr+p.path)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		file := filepath.Join(shots, p.name+".png")
		if err := os.WriteFile(file, page.PNG, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, w := range p.want {
			if !strings.Contains(page.DOM, w) {
				t.Errorf("%s: no %q in the DOM", p.name, w)
			}
		}
		// The refresh script ran where there is a refresh box.
		if strings.Contains(page.DOM, `id="autorefresh"`) != strings.Contains(page.DOM, `data-refresh="on"`) {
			t.Errorf("%s: the refresh script did not run", p.name)
		}
		if p.check != nil {
			p.check(t, page.DOM)
		}
	}
	t.Logf("screenshots in %s", shots)
}

func appendFile(t *testing.T, repo *testrepo.Repo, path, s string) {
	b, err := os.ReadFile(filepath.Join(repo.Work, filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	repo.WriteString(path, string(b)+s)
}

// pushWebhook tells the server, as GitHub would, that commit was pushed.
func pushWebhook(t *testing.T, addr string, secret []byte, commit string) {
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","after":%q,"repository":{"full_name":"acme/fleet"}}`, commit))
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/webhook/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", webhook.Sign(secret, body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("push webhook: %d", res.StatusCode)
	}
}

// statusView is what the browser test reads of /api/status.
type statusView struct {
	RejectedCommit string            `json:"rejected_commit"`
	Problems       []json.RawMessage `json:"problems"`
	Recording      struct {
		Queued int `json:"queued"`
	} `json:"recording"`
}

// waitStatus polls /api/status until cond holds.
func waitStatus(t *testing.T, addr string, what string, cond func(statusView) bool) statusView {
	t.Helper()
	var st statusView
	testwait.For(t, what, func() bool {
		res, err := http.Get("http://" + addr + "/api/status")
		if err != nil {
			t.Fatal(err)
		}
		st = statusView{}
		err = json.NewDecoder(res.Body).Decode(&st)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return cond(st)
	})
	return st
}
