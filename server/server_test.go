package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otagit/otagit/checkin"
	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testwait"
	"github.com/otagit/otagit/rollout"
)

// running is a server started by start.
type running struct {
	addrs []string
	data  string
	// stop ends the server and returns what Run returned.
	stop func() error
}

// start runs the server for the bare repository repo, as configure
// adjusts its configuration, until stop or the end of the test.
func start(t testing.TB, repo string, configure func(*Config)) *running {
	t.Helper()
	cfg := Config{
		Store: gitstore.Options{
			Remote:  gitstore.Remote{URL: repo, Branch: "main"},
			DataDir: t.TempDir(),
		},
		Listeners: []Listener{{Addr: "127.0.0.1:0", Operator: true}},
		CheckIns:  true,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if configure != nil {
		configure(&cfg)
	}
	r := &running{data: cfg.Store.DataDir}
	ready := make(chan []string, 1)
	cfg.Ready = func(addrs []string) { ready <- addrs }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	var result error
	stopped := false
	r.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { r.stop() })
	select {
	case r.addrs = <-ready:
	case err := <-done:
		stopped = true
		t.Fatalf("Run ended before it was ready: %v", err)
	}
	return r
}

// waitServing polls addr's /api/status until it serves commit.
func waitServing(t testing.TB, addr, commit string) {
	t.Helper()
	testwait.For(t, addr+" to serve "+commit[:12], func() bool {
		res, err := http.Get("http://" + addr + "/api/status")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var st gitstore.Status
		if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st.Commit == commit
	})
}

// starter pushes the starter config repository, with an extra smart-lamp
// release 1.2.0 whose image is size bytes, and returns the repository and
// its commit.
func starter(t testing.TB, size int) (*testrepo.Repo, string) {
	t.Helper()
	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	if size > 0 {
		repo.Write("firmware/smart-lamp/smart-lamp-1.2.0.bin", testrepo.Image(t, "esp8266", "smart-lamp", "1.2.0", size))
		old, err := repotemplate.FS().Open("platforms/smart-lamp.toml")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(old)
		old.Close()
		repo.WriteString("platforms/smart-lamp.toml", string(b)+
			"\n[[release]]\nversion = \"1.2.0\"\nfile = \"firmware/smart-lamp/smart-lamp-1.2.0.bin\"\n")
	}
	return repo, repo.CommitPush("starter config")
}

// lampRequest is GET /update as an ESP8266 smart lamp on version sends it.
func lampRequest(mac, version string) string {
	return "GET /update?dev=smart-lamp&ver=" + version + " HTTP/1.0\r\n" +
		"User-Agent: ESP8266-http-Update\r\nx-ESP8266-STA-MAC: " + mac + "\r\n" +
		"x-ESP8266-mode: sketch\r\nConnection: close\r\n\r\n"
}

// TestShutdownSavesCutOffDownloads: a download still running when the
// shutdown timeout ends is cut off, and its check-in is saved all the
// same, because the check-in recorder stops only after the last handler
// has returned.
func TestShutdownSavesCutOffDownloads(t *testing.T) {
	const size = 256 << 10 // ten times what the socket buffers below hold
	repo, commit := starter(t, size)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	srv := start(t, repo.Bare, func(c *Config) {
		c.Listeners = []Listener{{Listener: smallSendBuffers{ln}}}
		// It runs out for sure: the client below stops reading.
		c.ShutdownTimeout = time.Millisecond
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	waitServing(t, srv.addrs[0], commit)

	const lamp = "18:FE:34:A1:00:01"
	conn, err := net.Dial("tcp", srv.addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A small receive window, so that the server's writes block soon.
	if err := conn.(*net.TCPConn).SetReadBuffer(4 << 10); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, lampRequest(lamp, "1.1.0")); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReaderSize(conn, 4<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.ContentLength != size {
		t.Fatalf("got %d with Content-Length %d, want 200 with %d", res.StatusCode, res.ContentLength, size)
	}
	// The handler is sending the body now, and stays in it: nothing more
	// is read.
	if err := srv.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(logs.String(), "closing the connections left") {
		t.Fatalf("the download was not cut off (the socket buffers held all %d bytes): the test proves nothing:\n%s", size, logs.String())
	}

	db, err := checkin.OpenBolt(filepath.Join(srv.data, checkinsFile), checkin.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mac, _ := rollout.ParseMAC(lamp)
	hist, err := db.History(context.Background(), mac, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Version != "1.1.0" || hist[0].Offered != "1.2.0" {
		t.Fatalf("saved check-ins: %+v, want the cut-off download of 1.2.0 by 1.1.0", hist)
	}
}

// smallSendBuffers accepts connections whose send buffer is a few
// kilobytes and cannot grow, so that a client which stops reading stalls
// the server's writes at once, as a device on bad Wi-Fi does.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		err = c.(*net.TCPConn).SetWriteBuffer(8 << 10)
	}
	return c, err
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

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSeveralListeners: every listener serves every route, and Ready gets
// their addresses in order.
func TestSeveralListeners(t *testing.T) {
	repo, commit := starter(t, 0)
	srv := start(t, repo.Bare, func(c *Config) {
		c.Listeners = []Listener{{Addr: "127.0.0.1:0"}, {Addr: "127.0.0.1:0"}}
	})
	if len(srv.addrs) != 2 || srv.addrs[0] == srv.addrs[1] {
		t.Fatalf("Ready got %v, want two addresses", srv.addrs)
	}
	for _, addr := range srv.addrs {
		waitServing(t, addr, commit)
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, lampRequest("18:FE:34:A1:00:01", "1.1.0"))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("%s: /update got %d, want 304", addr, res.StatusCode)
		}
	}
	if err := srv.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestListenError: an address that cannot be listened on ends Run with an
// error naming it, and leaves nothing open: the next server on the same
// data directory starts.
func TestListenError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	repo, commit := starter(t, 0)
	data := t.TempDir()
	cfg := Config{
		Store:     gitstore.Options{Remote: gitstore.Remote{URL: repo.Bare, Branch: "main"}, DataDir: data},
		Listeners: []Listener{{Addr: "127.0.0.1:0"}, {Addr: busy.Addr().String()}},
		CheckIns:  true,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	err = Run(context.Background(), cfg)
	if want := "listen on " + busy.Addr().String(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Run: got %v, want an error containing %q", err, want)
	}
	srv := start(t, repo.Bare, func(c *Config) { c.Store.DataDir = data })
	waitServing(t, srv.addrs[0], commit)
}

func TestNoListener(t *testing.T) {
	err := Run(context.Background(), Config{Store: gitstore.Options{Remote: gitstore.Remote{URL: "x"}, DataDir: t.TempDir()}})
	if err == nil || !strings.Contains(err.Error(), "no listener") {
		t.Errorf("Run without listeners: got %v", err)
	}
}

// TestSyncFailureEndsRun: a sync loop that cannot start (the data
// directory's clone is not a repository) ends Run with its error.
func TestSyncFailureEndsRun(t *testing.T) {
	repo, _ := starter(t, 0)
	data := t.TempDir()
	// A file where the clone should be.
	if err := os.WriteFile(filepath.Join(data, "repo.git"), []byte("not a repository"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Store:     gitstore.Options{Remote: gitstore.Remote{URL: repo.Bare, Branch: "main"}, DataDir: data},
		Listeners: []Listener{{Addr: "127.0.0.1:0", Operator: true}},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	err := Run(context.Background(), cfg)
	if err == nil || !strings.HasPrefix(err.Error(), "sync: ") {
		t.Fatalf("Run: got %v, want the sync loop's error", err)
	}
}
