package gitstore

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testwait"
)

// runUntil runs a Store on data until stop is called; publishes records
// the commits it publishes, in order.
func runUntil(t *testing.T, r *testrepo.Repo, data string) (s *Store, publishes func() []string, stop func()) {
	t.Helper()
	var mu sync.Mutex
	var pub []string
	s, stop = runWith(t, Options{Remote: Remote{URL: r.Bare}, DataDir: data,
		OnPublish: func(snap *Snapshot) {
			mu.Lock()
			pub = append(pub, snap.Commit)
			mu.Unlock()
		},
	})
	return s, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), pub...) }, stop
}

// servedOnce pushes validFiles to a new remote, has a Store clone and
// serve it in a new data directory, and stops that Store: a restart on
// data then starts from a clone and a last good commit.
func servedOnce(t *testing.T) (r *testrepo.Repo, good, data string) {
	t.Helper()
	r = testrepo.New(t)
	good = pushFiles(r, validFiles(t), "good")
	data = t.TempDir()
	s, _, stop := runUntil(t, r, data)
	testwait.For(t, "first sync", serving(s, good))
	stop()
	return r, good, data
}

// truncatePacks cuts every pack of the clone in data to half its size.
func truncatePacks(t *testing.T, data string) {
	t.Helper()
	packs, _ := filepath.Glob(filepath.Join(data, "repo.git", "objects", "pack", "*.pack"))
	if len(packs) == 0 {
		t.Fatal("no pack in the clone")
	}
	for _, p := range packs {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, st.Size()/2); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoreTruncatedPack is fault 3 of issue 12: with the clone's packs
// truncated while stopped, a restart must not read the last good commit
// as an empty config, reject it, or reject the commits after it: the
// clone is cloned again, the last good commit served, then the new head.
func TestStoreTruncatedPack(t *testing.T) {
	r, good, data := servedOnce(t)

	truncatePacks(t, data)
	r.WriteString("README.md", "next")
	next := r.CommitPush("next")
	s, publishes, _ := runUntil(t, r, data)
	testwait.For(t, "the new head published", func() bool { p := publishes(); return len(p) > 0 && p[len(p)-1] == next })
	if got := publishes(); len(got) != 2 || got[0] != good {
		t.Errorf("published %v; want the last good commit %.7s restored, then %.7s", got, good, next)
	}
	st := s.Status()
	if st.RejectedCommit != "" || len(st.Problems) != 0 || st.StorageError != "" || st.LastError != "" {
		t.Errorf("status: rejected %q, problems %v, storage error %q, last error %q", st.RejectedCommit, st.Problems, st.StorageError, st.LastError)
	}
	for _, leftover := range []string{freshSuffix, damagedSuffix} {
		if _, err := os.Stat(filepath.Join(data, "repo.git"+leftover)); !os.IsNotExist(err) {
			t.Errorf("repo.git%s left: %v", leftover, err)
		}
	}
}

// TestStoreRefWithoutObjects is fault 11's cut-off fetch: the tracking
// ref at a commit whose objects never arrived must not give "object not
// found" config errors; the objects are fetched and the commit served.
func TestStoreRefWithoutObjects(t *testing.T) {
	r, _, data := servedOnce(t)

	r.WriteString("README.md", "next")
	next := r.CommitPush("next")
	repo, err := openRepo(filepath.Join(data, "repo.git"), Remote{URL: r.Bare})
	if err != nil {
		t.Fatal(err)
	}
	ref := plumbing.NewHashReference(Remote{}.trackingRef(), plumbing.NewHash(next))
	if err := repo.Storer.SetReference(ref); err != nil {
		t.Fatal(err)
	}
	s, _, _ := runUntil(t, r, data)
	testwait.For(t, "the new head served", serving(s, next))
	if st := s.Status(); st.RejectedCommit != "" || len(st.Problems) != 0 {
		t.Errorf("rejected %q: %v", st.RejectedCommit, st.Problems)
	}
}

// TestStoreCacheDiskFull is fault 6 of issue 12: a cache that cannot be
// written (ENOSPC) is a storage fault shown as such, not config errors,
// and the commit is served once space returns, with no new push.
func TestStoreCacheDiskFull(t *testing.T) {
	r := testrepo.New(t)
	s, _, _ := runUntil(t, r, t.TempDir())
	s.Cache().SetWriteFault(syscall.ENOSPC)
	good := pushFiles(r, validFiles(t), "good")
	s.Trigger("test")
	testwait.For(t, "a storage fault", func() bool { return s.Status().StorageError != "" })
	st := s.Status()
	if st.RejectedCommit != "" || len(st.Problems) != 0 || !strings.Contains(st.StorageError, "no space left") {
		t.Errorf("status: rejected %q, problems %v, storage error %q", st.RejectedCommit, st.Problems, st.StorageError)
	}
	s.Cache().SetWriteFault(nil)
	testwait.For(t, "the commit served once space returns", func() bool {
		st := s.Status()
		return st.Commit == good && st.StorageError == "" && st.LastError == ""
	})
}

// TestStoreCorruptArtifact is fault 4 of issue 12: a cached binary
// rewritten in place (same size) is never opened for sending with the
// digest of its old content; it is removed and stored again from Git.
func TestStoreCorruptArtifact(t *testing.T) {
	r := testrepo.New(t)
	good := pushFiles(r, validFiles(t), "good")
	s, _, _ := runUntil(t, r, t.TempDir())
	testwait.For(t, "first sync", serving(s, good))
	art := s.Current().Fleet.Platform("lamp").Releases[0].Artifact
	want, err := os.ReadFile(art.File)
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.Cache().Open(art.File, art.SHA256)
	if err != nil {
		t.Fatalf("open before the damage: %v", err)
	}
	f.Close()

	bad := append([]byte(nil), want...)
	bad[len(bad)/2] ^= 0xff
	if err := os.WriteFile(art.File, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := s.Cache().Open(art.File, art.SHA256); !errors.Is(err, artifact.ErrCorrupt) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("open after the damage: %v; want ErrCorrupt", err)
	}
	testwait.For(t, "the binary stored again", func() bool {
		f, err := s.Cache().Open(art.File, art.SHA256)
		if err != nil {
			return false
		}
		defer f.Close()
		got, err := io.ReadAll(f)
		return err == nil && bytes.Equal(got, want)
	})
}

// TestStoreCorruptArtifactHeadRejected is fault 4 with the branch head
// rejected: the binary removed as corrupt is one of the served commit,
// not of the head, and must be stored again all the same.
func TestStoreCorruptArtifactHeadRejected(t *testing.T) {
	r := testrepo.New(t)
	good := pushFiles(r, validFiles(t), "good")
	s, _, _ := runUntil(t, r, t.TempDir())
	testwait.For(t, "first sync", serving(s, good))
	r.WriteString("platforms/lamp.toml", "oops = 1\n")
	bad := r.CommitPush("bad")
	s.Trigger("test")
	testwait.For(t, "the head rejected", func() bool { return s.Status().RejectedCommit == bad })

	art := s.Current().Fleet.Platform("lamp").Releases[0].Artifact
	want, err := os.ReadFile(art.File)
	if err != nil {
		t.Fatal(err)
	}
	bad2 := append([]byte(nil), want...)
	bad2[len(bad2)/2] ^= 0xff
	if err := os.WriteFile(art.File, bad2, 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := s.Cache().Open(art.File, art.SHA256); !errors.Is(err, artifact.ErrCorrupt) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("open after the damage: %v; want ErrCorrupt", err)
	}
	testwait.For(t, "the binary stored again", func() bool {
		f, err := s.Cache().Open(art.File, art.SHA256)
		if err != nil {
			return false
		}
		defer f.Close()
		got, err := io.ReadAll(f)
		return err == nil && bytes.Equal(got, want)
	})
	if st := s.Status(); st.Commit != good || st.RejectedCommit != bad {
		t.Errorf("serving %.7s, rejected %.7s; want %.7s served, %.7s rejected", st.Commit, st.RejectedCommit, good, bad)
	}
}
