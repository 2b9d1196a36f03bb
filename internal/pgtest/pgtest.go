package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is one PostgreSQL server in a temporary directory, listening on
// 127.0.0.1 and on a unix socket in that directory. Its only user is
// "postgres", trusted without a password.
type Server struct {
	bin, dir string
	port     int
	runAs    string // "" to run as this process's user

	mu      sync.Mutex
	running bool
	dbs     atomic.Int64
}

// New starts a server of its own for t, stopped and removed in t.Cleanup;
// tests that stop and restart the server use it. Others use DB.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		skipOrFail(t, err)
	}
	t.Cleanup(s.remove)
	return s
}

var shared struct {
	once sync.Once
	s    *Server
	err  error
}

// DB returns the DSN of a new, empty database on the test binary's shared
// server, started on first use. A test binary that calls DB calls Main
// from TestMain, which stops the server when the tests end.
func DB(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() { shared.s, shared.err = start() })
	if shared.err != nil {
		skipOrFail(t, shared.err)
	}
	return shared.s.NewDB(t)
}

// Main runs the tests and stops the shared server, if one was started;
// call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared.s != nil {
		shared.s.remove()
	}
	return code
}

// skipOrFail skips a test that cannot have a PostgreSQL server, unless it
// runs in CI (CI=true), where it must have one.
func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("pgtest: cannot start PostgreSQL (CI=true, so this is a failure): %v", err)
	}
	t.Skipf("pgtest: cannot start PostgreSQL, skipping (apt-get install postgresql; in CI this fails): %v", err)
}

// findBin returns the newest /usr/lib/postgresql/*/bin holding postgres.
func findBin() (string, error) {
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(dirs) == 0 {
		return "", fmt.Errorf("no postgres binary in $PATH or /usr/lib/postgresql/*/bin")
	}
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[j]))))
		return vi > vj
	})
	return filepath.Dir(dirs[0]), nil
}

func start() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: its parent is private to this user, and when tests
	// run as root the server runs as postgres, which must reach the dir.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		// postgres refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.runAs = "postgres"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := s.command(ctx, "initdb", "-D", s.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w: %s", err, lastLines(out))
	}
	if err := s.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// command runs one of the server's binaries, as its user.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if s.runAs != "" {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", s.runAs, "--", path}, args...)...)
	}
	return exec.CommandContext(ctx, path, args...)
}

// Start starts the server, on the port it had before if it ran already,
// and waits until it accepts connections (at most a minute).
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return fmt.Errorf("pgtest: already running")
	}
	for attempt := 0; ; attempt++ {
		port := s.port
		if port == 0 {
			p, err := freePort()
			if err != nil {
				return err
			}
			port = p
		}
		err := s.startOn(port)
		if err == nil {
			s.port = port
			return nil
		}
		if s.port != 0 || attempt == 3 {
			return err
		}
		// Another process took the free port first: try another.
	}
}

func (s *Server) startOn(port int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s"+
		" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB",
		port, s.dir)
	// pg_ctl waits until the server accepts connections, and leaves it
	// running detached; Stop stops it with pg_ctl too.
	out, err := s.command(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", s.data(),
		"-l", filepath.Join(s.dir, "log"), "-o", opts).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("pgtest: pg_ctl start: %w: %s\n%s", err, lastLines(out), lastLines(log))
	}
	s.running = true
	return nil
}

// Stop stops the server (fast shutdown: clients are disconnected) and
// waits for it to exit, at most a minute.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if out, err := s.command(ctx, "pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", s.data()).CombinedOutput(); err != nil {
		// Immediate shutdown, as a crash would be.
		s.command(ctx, "pg_ctl", "stop", "-w", "-t", "20", "-m", "immediate", "-D", s.data()).Run()
		fmt.Fprintf(os.Stderr, "pgtest: pg_ctl stop: %v: %s\n", err, lastLines(out))
	}
	s.running = false
}

func (s *Server) remove() {
	s.Stop()
	os.RemoveAll(s.dir)
}

// Port is the TCP port the server listens on, on 127.0.0.1.
func (s *Server) Port() int { return s.port }

func (s *Server) dsn(port int, db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=5", port, db)
}

// DSN returns the address of database db on the server.
func (s *Server) DSN(db string) string { return s.dsn(s.port, db) }

// NewDB creates an empty database and returns its DSN.
func (s *Server) NewDB(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return s.DSN(name)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte) string {
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(bytes.TrimSpace(b))
}
