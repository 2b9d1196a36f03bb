package gitstore

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testwait"
)

// TestStoreRemovesFetchLeftovers is fault 7 of issue 12, fetch side: the
// temporary packs of cut-off fetches and an interrupted re-clone's
// directories are removed at start, and after a failed fetch.
func TestStoreRemovesFetchLeftovers(t *testing.T) {
	r, good, data := servedOnce(t)

	packDir := filepath.Join(data, "repo.git", "objects", "pack")
	leftovers := []string{filepath.Join(packDir, "tmp_pack_cutoff1"), filepath.Join(data, "repo.git"+freshSuffix, "HEAD")}
	write := func(paths ...string) {
		for _, p := range paths {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, make([]byte, 4096), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(leftovers...)
	s, _, _ := runUntil(t, r, data)
	testwait.For(t, "restored", serving(s, good))
	for _, p := range leftovers {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left at start: %v", p, err)
		}
	}

	// The remote goes away: the failed fetch's leftovers are removed.
	waitIdle(t, s)
	if err := os.Rename(r.Bare, r.Bare+".gone"); err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(packDir, "tmp_pack_cutoff2")
	write(cut)
	syncs := s.Status().Syncs
	s.Trigger("test")
	testwait.For(t, "a failed sync", func() bool { return s.Status().Syncs > syncs && s.Status().LastError != "" })
	waitIdle(t, s)
	if _, err := os.Stat(cut); !os.IsNotExist(err) {
		t.Errorf("%s left after a failed fetch: %v", cut, err)
	}
}

// TestStoreCollectsForcePushedObjects is fault 7, packs side: once the
// clone has more than MaxPacks packs, the objects of a commit
// force-pushed away are deleted.
func TestStoreCollectsForcePushedObjects(t *testing.T) {
	r := testrepo.New(t)
	good := pushFiles(r, validFiles(t), "good")
	junk := make([]byte, 256<<10)
	rand.Read(junk)
	r.Write("junk.bin", junk)
	gone := r.CommitPush("junk, to be force-pushed away")
	junkHash := plumbing.ComputeHash(plumbing.BlobObject, junk)

	data := t.TempDir()
	s, stop := runWith(t, Options{Remote: Remote{URL: r.Bare}, DataDir: data, MaxPacks: 1})
	testwait.For(t, "the junk commit served", serving(s, gone))

	// Force-push a commit on top of good: the junk commit is gone from
	// the branch, and the fetch adds a second pack.
	wt, err := git.PlainOpen(r.Work)
	if err != nil {
		t.Fatal(err)
	}
	w, err := wt.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Reset(&git.ResetOptions{Commit: plumbing.NewHash(good), Mode: git.HardReset}); err != nil {
		t.Fatal(err)
	}
	r.WriteString("README.md", "after the force push")
	next := r.CommitPush("next")
	s.Trigger("test")
	testwait.For(t, "the new head served", serving(s, next))
	stop()

	repo, err := openRepo(filepath.Join(data, "repo.git"), Remote{URL: r.Bare})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Storer.HasEncodedObject(junkHash); err == nil {
		t.Error("the blob of the commit force-pushed away is still in the clone")
	}
	if err := repo.Storer.HasEncodedObject(plumbing.NewHash(next)); err != nil {
		t.Errorf("the served commit: %v", err)
	}
	if err := checkComplete(repo, plumbing.NewHash(next)); err != nil {
		t.Error(err)
	}
}
