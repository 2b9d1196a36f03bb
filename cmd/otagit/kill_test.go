package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/otagit/otagit/checkin"
	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testwait"
	"github.com/otagit/otagit/rollout"
)

// serveProcess is `otagit serve` run as a process of its own (the test
// binary as otagit), so that it can be killed with SIGKILL.
type serveProcess struct {
	cmd    *exec.Cmd
	addr   string
	exited chan error
	mu     sync.Mutex
	log    strings.Builder
}

func startServeProcess(t *testing.T, args ...string) *serveProcess {
	t.Helper()
	p := &serveProcess{exited: make(chan error, 1)}
	p.cmd = exec.Command(os.Args[0], append([]string{"serve", "--listen", "127.0.0.1:0", "--poll", "0"}, args...)...)
	p.cmd.Env = append(os.Environ(), "OTAGIT_TEST_MAIN=1")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill() })
	listening := make(chan string, 1)
	go func() {
		listen := regexp.MustCompile(`msg="otagit serving" listen=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := listen.FindStringSubmatch(sc.Text()); m != nil {
				listening <- m[1]
			}
		}
		close(listening)
		p.exited <- p.cmd.Wait()
	}()
	addr, ok := <-listening
	if !ok {
		t.Fatalf("serve ended before it served:\n%s", p.logText())
	}
	p.addr = addr
	testwait.For(t, "the server to load its config", func() bool {
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return p
}

func (p *serveProcess) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// TestKill9LosesNoAcknowledgedCheckIn kills `otagit serve` with SIGKILL
// while devices poll it from many goroutines, restarts it on the same
// data directory and checks that every check-in a device got an answer
// to is in the store, once: the journal replays what the last flush
// window held (issue 12, fault 8).
func TestKill9LosesNoAcknowledgedCheckIn(t *testing.T) {
	const (
		devices  = 64
		workers  = 16
		perMAC   = 40   // below the history kept per device (50)
		killAt   = 1500 // answers received before the kill: past a flush or two
		firstMAC = 0xB0
	)
	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	var wl strings.Builder
	macs := make([]string, devices)
	for i := range macs {
		macs[i] = fmt.Sprintf("18:FE:34:%02X:00:%02X", firstMAC, i)
		fmt.Fprintf(&wl, "[[device]]\nmac = %q\nplatform = \"smart-lamp\"\n\n", macs[i])
	}
	repo.WriteString("devices/load.toml", wl.String())
	repo.CommitPush("load fleet")
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"--repo", repo.Bare, "--data", data}

	p := startServeProcess(t, args...)
	// Every device polls up to date (1.1.0) with a free space of its own
	// per poll, so each poll is a row of history (an identical poll
	// would update only the device's summary).
	var (
		mu    sync.Mutex
		acked = map[string][]int64{} // MAC -> free space of each answered poll
		total atomic.Int64
		wg    sync.WaitGroup
	)
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	killed := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range perMAC {
				for i := w; i < devices; i += workers {
					free := int64(1_000_000 + n)
					req, _ := http.NewRequest("GET", "http://"+p.addr+"/update", nil)
					for _, h := range esp8266(macs[i], "1.1.0") {
						if h[0] != "Content-Length" {
							req.Header.Set(h[0], h[1])
						}
					}
					req.Header.Set("x-ESP8266-free-space", strconv.FormatInt(free, 10))
					res, err := client.Do(req)
					if err != nil {
						select {
						case <-killed:
							return // the server is gone
						default:
							t.Errorf("poll before the kill: %v", err)
							return
						}
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusNotModified {
						t.Errorf("%s: status %d, want 304", macs[i], res.StatusCode)
						return
					}
					mu.Lock()
					acked[macs[i]] = append(acked[macs[i]], free)
					mu.Unlock()
					total.Add(1)
				}
			}
		}()
	}
	testwait.For(t, fmt.Sprintf("%d answers", killAt), func() bool { return total.Load() >= killAt || t.Failed() })
	close(killed)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testwait.Recv(t, "the killed server to exit", p.exited)
	wg.Wait()
	if t.Failed() {
		return
	}

	p = startServeProcess(t, args...)
	replayed := regexp.MustCompile(`msg="check-in journal replayed into the store" .*records=(\d+) checkins=(\d+)`).FindStringSubmatch(p.logText())
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := testwait.Recv(t, "the restarted server to exit", p.exited); err != nil {
		t.Fatalf("restarted server: %v\n%s", err, p.logText())
	}

	db, err := checkin.OpenBolt(filepath.Join(data, "checkins.db"), checkin.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lost, n := 0, 0
	for mac, frees := range acked {
		m, _ := rollout.ParseMAC(mac)
		hist, err := db.History(context.Background(), m, 0)
		if err != nil {
			t.Fatal(err)
		}
		have := map[int64]int{}
		for _, c := range hist {
			have[c.FreeSpace]++
		}
		for _, f := range frees {
			n++
			switch have[f] {
			case 0:
				lost++
				if lost <= 5 {
					t.Errorf("%s: the acknowledged check-in with free space %d is not in the store", mac, f)
				}
			case 1:
			default:
				t.Errorf("%s: the check-in with free space %d is in the store %d times", mac, f, have[f])
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged check-ins lost", lost, n)
	}
	if replayed == nil {
		t.Logf("%d check-ins acknowledged before SIGKILL, all in the store; all were saved before it", n)
	} else {
		t.Logf("%d check-ins acknowledged before SIGKILL, all in the store; the restart replayed %s journal records (%s check-ins not yet saved)", n, replayed[1], replayed[2])
	}
}
