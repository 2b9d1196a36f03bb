package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/otagit/otagit/internal/pgtest"
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

// killFleet is a config repository whose whitelist has n smart lamps,
// and their MACs.
func killFleet(t *testing.T, n int) (bare string, macs []string) {
	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	var wl strings.Builder
	macs = make([]string, n)
	for i := range macs {
		macs[i] = fmt.Sprintf("18:FE:34:B0:00:%02X", i)
		fmt.Fprintf(&wl, "[[device]]\nmac = %q\nplatform = \"smart-lamp\"\n\n", macs[i])
	}
	repo.WriteString("devices/load.toml", wl.String())
	repo.CommitPush("load fleet")
	return repo.Bare, macs
}

// fleetLoad polls servers from many goroutines and records every check-in
// answered: the MAC and the free space the poll reported, which is its
// own per poll, so that each poll is a row of history (an identical poll
// would update only the device's summary). Every device polls up to date
// (1.1.0), at most perMAC times, below the history a store keeps (50).
type fleetLoad struct {
	mu     sync.Mutex
	acked  map[string][]int64
	total  atomic.Int64
	wg     sync.WaitGroup
	killed chan struct{} // closed when a server is killed: errors are expected
}

const perMAC = 40

// startLoad polls from workers goroutines; poll n of device i goes to
// addr(i, n). A worker stops at its first failed poll once l.killed is
// closed.
func startLoad(t *testing.T, macs []string, workers int, addr func(i, n int) string) *fleetLoad {
	l := &fleetLoad{acked: map[string][]int64{}, killed: make(chan struct{})}
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := range perMAC {
				for i := w; i < len(macs); i += workers {
					free := int64(1_000_000 + n)
					req, _ := http.NewRequest("GET", "http://"+addr(i, n)+"/update", nil)
					for _, h := range esp8266(macs[i], "1.1.0") {
						if h[0] != "Content-Length" {
							req.Header.Set(h[0], h[1])
						}
					}
					req.Header.Set("x-ESP8266-free-space", strconv.FormatInt(free, 10))
					res, err := client.Do(req)
					if err != nil {
						select {
						case <-l.killed:
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
					l.mu.Lock()
					l.acked[macs[i]] = append(l.acked[macs[i]], free)
					l.mu.Unlock()
					l.total.Add(1)
				}
			}
		}()
	}
	return l
}

// kill waits for n answers, then SIGKILLs p.
func (l *fleetLoad) kill(t *testing.T, p *serveProcess, n int64) {
	testwait.For(t, fmt.Sprintf("%d answers", n), func() bool { return l.total.Load() >= n || t.Failed() })
	close(l.killed)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testwait.Recv(t, "the killed server to exit", p.exited)
}

// check fails t unless every answered check-in is in s exactly once; it
// returns how many were answered.
func (l *fleetLoad) check(t *testing.T, s checkin.Store) int {
	t.Helper()
	l.wg.Wait()
	lost, n := 0, 0
	for mac, frees := range l.acked {
		m, _ := rollout.ParseMAC(mac)
		hist, err := s.History(context.Background(), m, 0)
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
	return n
}

// stop ends p with SIGTERM and returns what its journal's replay at start
// said, "" if it replayed nothing.
func (p *serveProcess) stop(t *testing.T) string {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := testwait.Recv(t, "the server to exit", p.exited); err != nil {
		t.Fatalf("server: %v\n%s", err, p.logText())
	}
	m := regexp.MustCompile(`msg="check-in journal replayed into the store" .*records=(\d+) checkins=(\d+)`).FindStringSubmatch(p.logText())
	if m == nil {
		return ""
	}
	return m[1] + " journal records replayed, " + m[2] + " check-ins among them not yet saved"
}

// TestKill9LosesNoAcknowledgedCheckIn kills `otagit serve` with SIGKILL
// while devices poll it from many goroutines, restarts it on the same
// data directory and checks that every check-in a device got an answer
// to is in the store, once: the journal replays what the last flush
// window held (issue 12, fault 8).
func TestKill9LosesNoAcknowledgedCheckIn(t *testing.T) {
	bare, macs := killFleet(t, 64)
	args := []string{"--repo", bare, "--data", filepath.Join(t.TempDir(), "data")}
	p := startServeProcess(t, args...)
	l := startLoad(t, macs, 16, func(int, int) string { return p.addr })
	l.kill(t, p, 1500) // past a flush or two
	l.wg.Wait()
	if t.Failed() {
		return
	}
	replayed := startServeProcess(t, args...).stop(t)

	db, err := checkin.OpenBolt(filepath.Join(args[3], "checkins.db"), checkin.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := l.check(t, db)
	t.Logf("%d check-ins acknowledged before SIGKILL, all in the store once; %s", n, orNothing(replayed))
}

// TestKill9OneReplicaPostgres runs two replicas on one PostgreSQL, devices
// polling both in turn; one is SIGKILLed under load and restarted on its
// data directory: no check-in either acknowledged is lost or saved twice.
func TestKill9OneReplicaPostgres(t *testing.T) {
	dsn := pgtest.New(t).NewDB(t)
	bare, macs := killFleet(t, 64)
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")}
	token := filepath.Join(t.TempDir(), "read-token")
	if err := os.WriteFile(token, []byte("reader\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := func(i int) []string {
		return []string{"--repo", bare, "--data", dirs[i], "--store", dsn, "--read-token-file", token}
	}
	a, b := startServeProcess(t, args(0)...), startServeProcess(t, args(1)...)
	l := startLoad(t, macs, 16, func(i, n int) string {
		if (i+n)%2 == 0 {
			return a.addr
		}
		return b.addr
	})
	l.kill(t, a, 1500)
	l.wg.Wait()
	if t.Failed() {
		return
	}
	a = startServeProcess(t, args(0)...)
	// A replica serves before it has read PostgreSQL (which may be down);
	// its journal is replayed first thing once it can.
	testwait.For(t, "the restarted replica to read the store", func() bool { return storeLoaded(t, a.addr, "reader") })
	replayed := a.stop(t)
	b.stop(t)

	db, err := checkin.OpenPostgres(context.Background(), checkin.PostgresOptions{DSN: dsn, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := l.check(t, db)
	t.Logf("%d check-ins acknowledged by two replicas before one was SIGKILLed, all in PostgreSQL once; %s", n, orNothing(replayed))
}

// storeLoaded reports whether the server's /api/status says its tracker
// has read the check-in store.
func storeLoaded(t *testing.T, addr, token string) bool {
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	defer res.Body.Close()
	var st struct {
		Recording struct {
			Store struct {
				Loaded bool `json:"loaded"`
			} `json:"store"`
		} `json:"recording"`
	}
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatalf("status: %v", err)
	}
	return st.Recording.Store.Loaded
}

func orNothing(replayed string) string {
	if replayed == "" {
		return "all were saved before the kill"
	}
	return replayed
}
