package gitstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/artifact"
	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testwait"
)

// TestStoreRestartDamagedRemoteDown is the rest of fault 3 of issue 12:
// restarted with the clone's packs truncated and the remote unreachable,
// the server serves the last good commit from its saved copy (the same
// snapshot, the same image bytes), says so in its status, retries
// cloning with backoff, and once the remote is back clones again and
// serves the head.
func TestStoreRestartDamagedRemoteDown(t *testing.T) {
	r := testrepo.New(t)
	files := validFiles(t)
	good := pushFiles(r, files, "good")
	data := t.TempDir()
	s, _, stop := runUntil(t, r, data)
	testwait.For(t, "first sync", serving(s, good))
	want := s.Current()
	stop()
	// Pushed while stopped: the fetch that follows cloning again,
	// whenever it comes, finds it.
	r.WriteString("README.md", "next")
	next := r.CommitPush("next")

	truncatePacks(t, data)
	away := r.Bare + ".away"
	if err := os.Rename(r.Bare, away); err != nil {
		t.Fatal(err)
	}
	s2, publishes, _ := runUntil(t, r, data)
	testwait.For(t, "the last good commit served", serving(s2, good))
	got := s2.Current()
	if got.Digest != want.Digest || got.Subject != want.Subject || !got.CommitTime.Equal(want.CommitTime) {
		t.Errorf("served %s %q %v; want the snapshot served before the restart, %s %q %v",
			got.Digest, got.Subject, got.CommitTime, want.Digest, want.Subject, want.CommitTime)
	}
	releases := 0
	for _, p := range got.Fleet.Platforms() {
		for _, rel := range p.Releases {
			releases++
			f, err := s2.Cache().Open(rel.Artifact.File, rel.Artifact.SHA256)
			if err != nil {
				t.Fatalf("release %s: %v", rel.ID(), err)
			}
			var b bytes.Buffer
			b.ReadFrom(f)
			f.Close()
			if !bytes.Equal(b.Bytes(), files[rel.Artifact.Source.Path].Data) {
				t.Errorf("release %s serves other bytes than %s", rel.ID(), rel.Artifact.Source.Path)
			}
		}
	}
	if releases != 3 {
		t.Errorf("%d releases served, want 3", releases)
	}
	// Cloning again fails, and is retried without a trigger.
	testwait.For(t, "cloning again to fail twice", func() bool { return s2.Status().Syncs >= 2 })
	st := s2.Status()
	if st.FromSavedCopy == "" || !strings.Contains(st.StorageError, "cloning again failed") ||
		st.RejectedCommit != "" || len(st.Problems) != 0 || st.Commit != good {
		t.Errorf("status: from saved copy %q, storage error %q, rejected %q, problems %v, commit %.7s",
			st.FromSavedCopy, st.StorageError, st.RejectedCommit, st.Problems, st.Commit)
	}

	if err := os.Rename(away, r.Bare); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the head served", serving(s2, next))
	waitIdle(t, s2)
	st = s2.Status()
	if st.FromSavedCopy != "" || st.StorageError != "" || st.LastError != "" {
		t.Errorf("status: from saved copy %q, storage error %q, last error %q", st.FromSavedCopy, st.StorageError, st.LastError)
	}
	if p := publishes(); len(p) != 2 || p[0] != good || p[1] != next {
		t.Errorf("published %v; want %.7s from the saved copy, then %.7s", p, good, next)
	}
}

// TestStoreSavedCopyChecked: a saved copy that does not give the bytes of
// the commit's blobs is not served, and the fault is a storage fault, not
// a rejected commit.
func TestStoreSavedCopyChecked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, data string, sc *savedCopy)
	}{
		{"config bytes changed", func(t *testing.T, data string, sc *savedCopy) {
			f := sc.Files["platforms/lamp.toml"]
			f.Data = bytes.Replace(f.Data, []byte(`"lamp"`), []byte(`"lump"`), 1)
			sc.Files["platforms/lamp.toml"] = f
		}},
		{"file left out", func(t *testing.T, data string, sc *savedCopy) {
			delete(sc.Files, "devices/office.toml")
		}},
		{"binary lost from the cache", func(t *testing.T, data string, sc *savedCopy) {
			// Every binary, and the loader's memory of them, gone.
			if err := os.RemoveAll(filepath.Join(data, "artifacts")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, good, data := servedOnce(t)
			path := filepath.Join(data, savedName)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var sc savedCopy
			if err := json.Unmarshal(raw, &sc); err != nil {
				t.Fatal(err)
			}
			if sc.Commit != good || len(sc.Files["platforms/lamp.toml"].Data) == 0 || sc.Files["fw/lamp-1.0.0.bin"].Data != nil {
				t.Fatalf("saved copy of %.7s: lamp.toml %d bytes, a binary %d bytes; want the config's bytes and no binary's",
					sc.Commit, len(sc.Files["platforms/lamp.toml"].Data), len(sc.Files["fw/lamp-1.0.0.bin"].Data))
			}
			tc.damage(t, data, &sc)
			if raw, err = json.Marshal(&sc); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			truncatePacks(t, data)
			if err := os.Rename(r.Bare, r.Bare+".away"); err != nil {
				t.Fatal(err)
			}
			s, _, _ := runUntil(t, r, data)
			testwait.For(t, "cloning again to fail", func() bool { return s.Status().StorageError != "" })
			st := s.Status()
			if s.Current() != nil || st.Commit != "" || st.FromSavedCopy != "" || st.RejectedCommit != "" || len(st.Problems) != 0 {
				t.Errorf("served %v; status: commit %.7s, from saved copy %q, rejected %q, problems %v",
					s.Current() != nil, st.Commit, st.FromSavedCopy, st.RejectedCommit, st.Problems)
			}
		})
	}
}

// TestSavedCopyLoadsAsClone: the starter repository loaded from its saved
// copy gives the snapshot it gives from the clone.
func TestSavedCopyLoadsAsClone(t *testing.T) {
	r := testrepo.New(t)
	r.WriteFS(repotemplate.FS())
	head := plumbing.NewHash(r.CommitPush("starter"))
	repo := r.OpenBare()
	cache, err := artifact.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{cache: cache, repo: repo}
	opts := s.loadOptions(t.Context())
	want, probs, rec, err := loadCommit(repo, head, opts, nil, true)
	if err != nil || want.Fleet == nil {
		t.Fatalf("load: %v %v", err, probs.Err())
	}
	sc, err := rec.saved(repo, head, cache)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(sc)
	var again savedCopy
	if err := json.Unmarshal(raw, &again); err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(head)
	if err != nil {
		t.Fatal(err)
	}
	got, gotProbs, err := again.load(c, cache, opts)
	if err != nil || got.Fleet == nil {
		t.Fatalf("load from the saved copy: %v %v", err, gotProbs.Err())
	}
	if got.Digest != want.Digest || len(got.Fleet.Devices()) != len(want.Fleet.Devices()) ||
		len(got.Warnings) != len(want.Warnings) || got.Subject != want.Subject {
		t.Errorf("from the saved copy: digest %s, %d devices, warnings %v; from the clone: %s, %d, %v",
			got.Digest, len(got.Fleet.Devices()), got.Warnings, want.Digest, len(want.Fleet.Devices()), want.Warnings)
	}
}

// TestSavedFSAnswers: the saved copy answers what was recorded as the
// clone answered it, a path in a listed directory it does not list as
// missing, and any other path as a storage fault, never as missing.
func TestSavedFSAnswers(t *testing.T) {
	r := testrepo.New(t)
	r.WriteString("platforms/a.toml", "a = 1\n")
	r.WriteString("platforms/b.toml", "b = 2\n")
	r.WriteString("devices/d.toml", "d = 3\n")
	head := plumbing.NewHash(r.CommitPush("files"))
	repo := r.OpenBare()
	c, err := repo.CommitObject(head)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := c.Tree()
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(NewTreeFS(tree, c.Committer.When))
	for range 2 {
		if _, err := fs.ReadDir(rec, "platforms"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fs.Stat(rec, "absent.toml"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(rec, "platforms/a.toml"); err != nil || string(b) != "a = 1\n" {
		t.Fatal(b, err)
	}
	if d, err := rec.Open("devices"); err != nil {
		t.Fatal(err)
	} else {
		d.Close()
	}
	cache, err := artifact.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := rec.saved(repo, head, cache)
	if err != nil {
		t.Fatal(err)
	}
	var seen faults
	sfs := &savedFS{sc: sc, cache: cache, faults: &seen}
	entries, err := fs.ReadDir(sfs, "platforms")
	if err != nil || len(entries) != 2 || entries[0].Name() != "a.toml" || entries[1].Name() != "b.toml" {
		t.Errorf("platforms: %v %v", entries, err)
	}
	if b, err := fs.ReadFile(sfs, "platforms/a.toml"); err != nil || string(b) != "a = 1\n" {
		t.Errorf("a.toml: %q %v", b, err)
	}
	if d, err := sfs.Open("devices"); err != nil {
		t.Errorf("devices: %v", err)
	} else if st, err := d.Stat(); err != nil || !st.IsDir() {
		t.Errorf("devices: %v %v", st, err)
	}
	for _, name := range []string{"absent.toml", "platforms/c.toml"} {
		if _, err := fs.Stat(sfs, name); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrDamaged) {
			t.Errorf("%s: %v, want not found", name, err)
		}
	}
	if seen.first() != nil {
		t.Errorf("fault recorded: %v", seen.first())
	}
	// Never read, so not saved: its bytes cannot be given.
	for _, name := range []string{"platforms/b.toml", "devices/d.toml", "other.toml"} {
		_, err := fs.ReadFile(sfs, name)
		if !errors.Is(err, ErrDamaged) || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want a storage fault", name, err)
		}
	}
	if !errors.Is(seen.first(), ErrDamaged) {
		t.Errorf("no fault recorded: %v", seen.first())
	}
}
