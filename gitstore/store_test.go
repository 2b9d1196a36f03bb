package gitstore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testwait"
)

// pushFiles writes files into the work tree of r, then commits and pushes.
func pushFiles(r *testrepo.Repo, files fstest.MapFS, msg string) string {
	for name, f := range files {
		r.Write(name, f.Data)
	}
	return r.CommitPush(msg)
}

// runWith runs a Store made with opts (its log discarded unless
// opts.Logger is set) until stop is called or the test ends; stop waits
// for Run to return, so that another Store can start on the same data.
func runWith(t *testing.T, opts Options) (s *Store, stop func()) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return s, stop
}

// startStore runs a Store for r in the background until the test ends.
func startStore(t *testing.T, r *testrepo.Repo, data string) *Store {
	t.Helper()
	s, _ := runWith(t, Options{Remote: Remote{URL: r.Bare, Branch: "main"}, DataDir: data})
	return s
}

// waitIdle waits until s has no sync running or pending: a job runs in
// Run between syncs, and then finds no sync requested.
func waitIdle(t *testing.T, s *Store) {
	t.Helper()
	testwait.For(t, "the store to be idle", func() bool {
		idle := make(chan bool, 1)
		s.work <- func() { idle <- len(s.kick) == 0 }
		return <-idle
	})
}

func serving(s *Store, commit string) func() bool {
	return func() bool { c := s.Current(); return c != nil && c.Commit == commit }
}

func TestStoreSyncPublishRejectRecover(t *testing.T) {
	r := testrepo.New(t)
	first := pushFiles(r, validFiles(t), "initial config")
	s := startStore(t, r, t.TempDir())
	testwait.For(t, "first commit", serving(s, first))

	snap := s.Current()
	if got, want := snap.Subject, "initial config"; got != want {
		t.Errorf("subject: got %q, want %q", got, want)
	}
	art := snap.Fleet.Platform("lamp").Releases[0].Artifact
	if b, err := os.ReadFile(art.File); err != nil || int64(len(b)) != art.Size {
		t.Fatalf("artifact file %s: %v (%d bytes, want %d)", art.File, err, len(b), art.Size)
	}

	// A new release arrives with a push and a trigger.
	r.Write("fw/lamp-1.2.0.bin", image(t, "esp8266", "lamp", "1.2.0"))
	r.WriteString("platforms/lamp.toml", "chip = \"esp8266\"\n[[release]]\nversion = \"1.2.0\"\nfile = \"fw/lamp-1.2.0.bin\"\n")
	second := r.CommitPush("lamp 1.2.0")
	s.Trigger("test")
	testwait.For(t, "second commit", serving(s, second))
	if got := s.Current().Fleet.Platform("lamp").Releases[0].Version.String(); got != "1.2.0" {
		t.Errorf("newest lamp release: got %s, want 1.2.0", got)
	}

	// A broken commit is rejected; the second keeps serving.
	r.WriteString("platforms/lamp.toml", "chip = \"esp8266\"\n[[release]]\nversion = \"1.3\"\nfile = \"fw/lamp-1.2.0.bin\"\n")
	broken := r.CommitPush("broken")
	s.Trigger("test")
	testwait.For(t, "rejection", func() bool { return s.Status().RejectedCommit == broken })
	st := s.Status()
	if st.Commit != second || s.Current().Commit != second {
		t.Errorf("serving %s / status %s, want %s", s.Current().Commit, st.Commit, second)
	}
	if len(st.Problems) != 1 || st.Problems[0].String() != `platforms/lamp.toml:3: release[0].version: "1.3" is not a semantic version (MAJOR.MINOR.PATCH, e.g. "1.2.3")` {
		t.Errorf("problems: got %v", st.Problems)
	}
	if !strings.Contains(st.LastError, "rejected") {
		t.Errorf("last error: got %q", st.LastError)
	}

	// The same broken head is not re-checked on every sync.
	syncs := st.Syncs
	s.Trigger("again")
	testwait.For(t, "another sync", func() bool { return s.Status().Syncs > syncs })
	if s.Status().RejectedCommit != broken {
		t.Errorf("rejected commit lost")
	}

	// A fix clears the rejection.
	r.WriteString("platforms/lamp.toml", "chip = \"esp8266\"\n[[release]]\nversion = \"1.3.0\"\nfile = \"fw/lamp-1.2.0.bin\"\n")
	fixed := r.CommitPush("fix")
	s.Trigger("test")
	testwait.For(t, "fixed commit", serving(s, fixed))
	testwait.For(t, "status update", func() bool { return s.Status().Commit == fixed })
	if st := s.Status(); st.RejectedCommit != "" || st.Problems != nil || st.LastError != "" {
		t.Errorf("after fix: rejected %q, problems %v, last error %q", st.RejectedCommit, st.Problems, st.LastError)
	}
}

func TestStoreRestartServesLastGoodOffline(t *testing.T) {
	r := testrepo.New(t)
	good := pushFiles(r, validFiles(t), "good")
	data := t.TempDir()
	func() {
		s, err := New(Options{Remote: Remote{URL: r.Bare}, DataDir: data, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		testwait.For(t, "first sync", serving(s, good))
		// Push a bad commit so that the branch head is not the last good one.
		r.WriteString("platforms/lamp.toml", "oops = 1\n")
		bad := r.CommitPush("bad")
		s.Trigger("test")
		testwait.For(t, "rejection", func() bool { return s.Status().RejectedCommit == bad })
		cancel()
		<-done
	}()

	// The remote disappears; a restarted server serves the last good commit.
	if err := os.Rename(r.Bare, r.Bare+".gone"); err != nil {
		t.Fatal(err)
	}
	s := startStore(t, r, data)
	testwait.For(t, "restored snapshot", serving(s, good))
	testwait.For(t, "fetch error", func() bool { return s.Status().LastError != "" })
	if st := s.Status(); st.Commit != good || !strings.Contains(st.LastError, "fetch") {
		t.Errorf("status: commit %s, last error %q", st.Commit, st.LastError)
	}
	art := s.Current().Fleet.Platform("lamp").Releases[0].Artifact
	if _, err := os.Stat(art.File); err != nil {
		t.Errorf("artifact after restart: %v", err)
	}
}

func TestStoreNoSnapshotUntilRemoteWorks(t *testing.T) {
	r := testrepo.New(t) // empty: no commits yet
	s := startStore(t, r, t.TempDir())
	testwait.For(t, "first attempt", func() bool { return s.Status().Syncs > 0 })
	if s.Current() != nil {
		t.Fatal("snapshot from an empty repository")
	}
	// git-upload-pack reports an empty repository; go-git's in-process
	// server advertises no branches.
	if got := s.Status().LastError; !strings.Contains(got, "no commits") && !strings.Contains(got, `no branch "main"`) {
		t.Errorf("last error: got %q", got)
	}
	// Without any trigger, the retry picks the first commit up.
	c := pushFiles(r, validFiles(t), "first")
	testwait.For(t, "retry to publish", serving(s, c))
}

func TestStoreWrongBranch(t *testing.T) {
	r := testrepo.New(t)
	pushFiles(r, validFiles(t), "first")
	s, err := New(Options{Remote: Remote{URL: r.Bare, Branch: "prod"}, DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); testwait.Recv(t, "Run to return", done) }()
	testwait.For(t, "first attempt", func() bool { return s.Status().Syncs > 0 })
	if got := s.Status().LastError; !strings.Contains(got, `no branch "prod"`) {
		t.Errorf("last error: got %q", got)
	}
}

func TestStoreCoalescesTriggers(t *testing.T) {
	r := testrepo.New(t)
	c := pushFiles(r, validFiles(t), "first")
	s := startStore(t, r, t.TempDir())
	testwait.For(t, "first", serving(s, c))
	waitIdle(t, s)
	before := s.Status().Syncs
	for range 100 {
		s.Trigger("burst")
	}
	testwait.For(t, "a sync after the burst", func() bool { return s.Status().Syncs > before })
	waitIdle(t, s)
	// A sync may start during the burst and one more be requested while
	// it runs; never one per trigger.
	if got := s.Status().Syncs - before; got < 1 || got > 2 {
		t.Errorf("100 triggers made %d syncs, want 1 or 2", got)
	}
}

// TestStoreOnPublish: OnPublish sees every published snapshot, in order,
// once Current returns it: a sync's, not a rejected commit's, and the last
// good commit restored at start.
func TestStoreOnPublish(t *testing.T) {
	r := testrepo.New(t)
	first := pushFiles(r, validFiles(t), "first")
	data := t.TempDir()
	published := make(chan string, 16)
	// start runs a Store whose OnPublish checks Current and reports.
	start := func(ctx context.Context) (*Store, chan error) {
		var s *Store
		var err error
		s, err = New(Options{Remote: Remote{URL: r.Bare, Branch: "main"}, DataDir: data,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			OnPublish: func(snap *Snapshot) {
				if cur := s.Current(); cur != snap {
					t.Errorf("OnPublish(%s): Current is %v, want the snapshot published", snap.ShortCommit(), cur)
				}
				published <- snap.Commit
			}})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		return s, done
	}
	next := func(what string) string {
		t.Helper()
		return testwait.Recv(t, "OnPublish for "+what, published)
	}

	ctx, cancel := context.WithCancel(context.Background())
	s, done := start(ctx)
	if got := next("the first commit"); got != first {
		t.Errorf("first publish: got %.12s, want %.12s", got, first)
	}
	r.WriteString("platforms/lamp.toml", "oops = 1\n")
	bad := r.CommitPush("bad")
	s.Trigger("test")
	testwait.For(t, "rejection", func() bool { return s.Status().RejectedCommit == bad })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case c := <-published:
		t.Errorf("OnPublish called for %.12s, after the first commit", c)
	default:
	}

	// A restart publishes the last good commit from the local clone.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	_, done = start(ctx)
	if got := next("the restored commit"); got != first {
		t.Errorf("publish after restart: got %.12s, want %.12s", got, first)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestTreeFS(t *testing.T) {
	r := testrepo.New(t)
	c := pushFiles(r, validFiles(t), "first")
	repo, err := git.PlainOpen(r.Bare)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := repo.CommitObject(plumbing.NewHash(c))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := commit.Tree()
	if err != nil {
		t.Fatal(err)
	}
	fsys := NewTreeFS(tree, commit.Committer.When)
	if err := fstest.TestFS(fsys, "platforms/lamp.toml", "devices/site/garden.toml", "fw/lamp-1.0.0.bin", "README.md"); err != nil {
		t.Fatal(err)
	}
	st, err := fsys.Stat("fw/lamp-1.0.0.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Sys().(plumbing.Hash); !ok {
		t.Errorf("Sys: got %T, want plumbing.Hash", st.Sys())
	}
}

func TestCacheReusesBlobs(t *testing.T) {
	r := testrepo.New(t)
	c := pushFiles(r, validFiles(t), "first")
	repo, err := git.PlainOpen(r.Bare)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cache, err := artifact.OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	snap, probs, err := LoadCommit(repo, plumbing.NewHash(c), config.LoadOptions{Inspector: cache}, nil)
	if err != nil || snap.Fleet == nil {
		t.Fatalf("load: %v %v", err, probs)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "blobs"))
	if got, want := len(entries), 3; got != want {
		t.Fatalf("blob index entries: got %d, want %d", got, want)
	}
	// A new cache over the same directory (a restart) finds the blobs
	// through the index and reads no Git object content for them: remove
	// write access to prove nothing is stored again.
	cache2, _ := artifact.OpenCache(dir)
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(filepath.Join(dir, "tmp"), 0o755)
	if os.Getuid() == 0 {
		t.Log("running as root: directory permissions do not stop writes, checking the index only")
	}
	snap2, probs, err := LoadCommit(repo, plumbing.NewHash(c), config.LoadOptions{Inspector: cache2}, nil)
	if err != nil || snap2.Fleet == nil {
		t.Fatalf("reload: %v %v", err, probs)
	}
	a1 := snap.Fleet.Platform("lamp").Releases[0].Artifact
	a2 := snap2.Fleet.Platform("lamp").Releases[0].Artifact
	if a1 != a2 {
		t.Errorf("artifact after reload: got %+v, want %+v", a2, a1)
	}
	if st := cache2.Stats(); st.Known != 3 || st.Files != 3 {
		t.Errorf("cache2 knows %d blobs in %d files, want 3 in 3", st.Known, st.Files)
	}
}

// TestInProcessFileTransport runs the store tests again in a child process
// that serves local remotes with go-git's in-process server, the path taken
// on machines without Git installed.
func TestInProcessFileTransport(t *testing.T) {
	if os.Getenv(inProcessEnv) == "1" {
		t.Skip("already in the child")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStore", "-test.count=1")
	cmd.Env = append(os.Environ(), inProcessEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("store tests with the in-process transport: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("no PASS in child output:\n%s", out)
	}
}

// TestLoadForReviewStopped checks that a review asked of a store whose
// Run has returned fails at once instead of waiting for its timeout.
func TestLoadForReviewStopped(t *testing.T) {
	r := testrepo.New(t)
	c := pushFiles(r, validFiles(t), "first")
	s, err := New(Options{Remote: Remote{URL: r.Bare, Branch: "main"}, DataDir: t.TempDir(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// No deadline: if LoadForReview waited for Run, the test would hang
	// until go test's own timeout.
	_, err = s.LoadForReview(context.Background(), c, c, 1, false)
	if !errors.Is(err, ErrNotRunning) {
		t.Fatalf("LoadForReview on a stopped store: got %v, want ErrNotRunning", err)
	}
}
