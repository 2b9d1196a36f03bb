package gitstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testwait"
)

// gcCommit writes version i of the lamp's only release (its binary
// replaced in place) and commits and pushes it.
func gcCommit(t *testing.T, r *testrepo.Repo, i int) (commit string, bin []byte) {
	t.Helper()
	v := fmt.Sprintf("1.0.%d", i)
	bin = image(t, espimage.ESP8266, "lamp", v)
	r.Write("fw/lamp.bin", bin)
	r.WriteString("platforms/lamp.toml", "chip = \"esp8266\"\n[[release]]\nversion = \""+v+"\"\nfile = \"fw/lamp.bin\"\n")
	return r.CommitPush("lamp " + v), bin
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// cachedArtifacts lists the artifact files in data's cache.
func cachedArtifacts(t *testing.T, data string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(data, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

// runStore runs a Store for r on data until stop is called (or the test
// ends).
func runStore(t *testing.T, r *testrepo.Repo, data string, keep int) (s *Store, stop func()) {
	t.Helper()
	return runWith(t, Options{Remote: Remote{URL: r.Bare, Branch: "main"}, DataDir: data, KeepSnapshots: keep})
}

func TestStoreCollectsArtifacts(t *testing.T) {
	const keep = 3
	r := testrepo.New(t)
	files := validFiles(t)
	delete(files, "platforms/lamp.toml")
	delete(files, "fw/lamp-1.0.0.bin")
	delete(files, "fw/lamp-1.1.0.bin")
	r.WriteFS(files)
	station := digestOf(files["fw/station-2.0.0.bin"].Data)

	data := t.TempDir()
	s, stop := runStore(t, r, data, keep)
	var bins [][]byte // bins[i] is the lamp binary of commit i
	var commits []string
	for i := range 6 {
		c, bin := gcCommit(t, r, i)
		commits, bins = append(commits, c), append(bins, bin)
		s.Trigger("test")
		testwait.For(t, "commit "+c, serving(s, c))

		// Only what the last keep snapshots reference is left: their lamp
		// binaries and the station's, which they share.
		want := []string{station}
		for j := max(0, i-keep+1); j <= i; j++ {
			want = append(want, digestOf(bins[j]))
		}
		slices.Sort(want)
		if got := cachedArtifacts(t, data); !slices.Equal(got, want) {
			t.Fatalf("after commit %d: cache holds\n%v\nwant\n%v", i, got, want)
		}
		st := s.Status().Artifacts
		if st.Files != len(want) || st.Collected != max(0, i-keep+1) || st.LastGCAt.IsZero() {
			t.Errorf("after commit %d: status %+v, want %d files, %d collected", i, st, len(want), max(0, i-keep+1))
		}
	}
	stop()

	// A restart keeps what the last snapshots before it kept, and removes
	// what a process killed while filling the cache left behind.
	before := cachedArtifacts(t, data)
	leftover := filepath.Join(data, "artifacts", "tmp", "put-4242")
	if err := os.WriteFile(leftover, []byte("half a binary"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ = runStore(t, r, data, keep)
	testwait.For(t, "restored commit", serving(s, commits[5]))
	if got := cachedArtifacts(t, data); !slices.Equal(got, before) {
		t.Errorf("after restart: cache holds\n%v\nwant\n%v", got, before)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("leftover after restart: stat error %v, want not exist", err)
	}

	// Rolling back to commit 1 (what `git revert` of the later commits
	// leaves): its binary was collected and is read from Git again.
	if slices.Contains(cachedArtifacts(t, data), digestOf(bins[1])) {
		t.Fatal("commit 1's binary was not collected; the test proves nothing")
	}
	r.Write("fw/lamp.bin", bins[1])
	r.WriteString("platforms/lamp.toml", "chip = \"esp8266\"\n[[release]]\nversion = \"1.0.1\"\nfile = \"fw/lamp.bin\"\n")
	back := r.CommitPush("Revert to lamp 1.0.1")
	s.Trigger("test")
	testwait.For(t, "rollback commit", serving(s, back))
	art := s.Current().Fleet.Platform("lamp").Releases[0].Artifact
	got, err := os.ReadFile(art.File)
	if err != nil {
		t.Fatalf("rolled-back artifact: %v", err)
	}
	if !bytes.Equal(got, bins[1]) || art.SHA256 != digestOf(bins[1]) || art.Size != int64(len(bins[1])) {
		t.Errorf("rolled-back artifact: %d bytes, sha256 %s; want commit 1's %d bytes, %s", len(got), art.SHA256, len(bins[1]), digestOf(bins[1]))
	}
	want := []string{station, digestOf(bins[1]), digestOf(bins[4]), digestOf(bins[5])}
	slices.Sort(want)
	if got := cachedArtifacts(t, data); !slices.Equal(got, want) {
		t.Errorf("after rollback: cache holds\n%v\nwant\n%v", got, want)
	}
}

func TestStoreKeepSnapshotsAtLeastTwo(t *testing.T) {
	_, err := New(Options{Remote: Remote{URL: "/nowhere"}, DataDir: t.TempDir(), KeepSnapshots: 1})
	if err == nil {
		t.Fatal("KeepSnapshots 1: no error")
	}
}

// TestStoreKeepsGzipSourcesAndFilesystems serves a gzip platform with a
// filesystem image: the collection after the publish keeps the gzip copy,
// its source and the filesystem image.
func TestStoreKeepsGzipSourcesAndFilesystems(t *testing.T) {
	r := testrepo.New(t)
	files := validFiles(t)
	delete(files, "fw/lamp-1.0.0.bin")
	delete(files, "fw/lamp-1.1.0.bin")
	r.WriteFS(files)
	app, err := espimage.Build(espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "lamp", Version: "1.0.0", Arduino: true, Size: 65536})
	if err != nil {
		t.Fatal(err)
	}
	fs := bytes.Repeat([]byte{0xFF}, 8192)
	copy(fs[8:], "littlefs")
	r.Write("fw/lamp.bin", app)
	r.Write("fw/fs.bin", fs)
	r.WriteString("platforms/lamp.toml", "chip = \"esp8266\"\ngzip = true\n[[release]]\nversion = \"1.0.0\"\nfile = \"fw/lamp.bin\"\nfilesystem = \"fw/fs.bin\"\n")
	c := r.CommitPush("gzip lamp with a filesystem")

	data := t.TempDir()
	s, _ := runStore(t, r, data, 2)
	s.Trigger("test")
	testwait.For(t, "commit "+c, serving(s, c))
	rel := s.Current().Fleet.Platform("lamp").Releases[0]
	if rel.Artifact.SourceSHA256 != digestOf(app) || rel.Filesystem == nil || rel.Filesystem.SHA256 != digestOf(fs) {
		t.Fatalf("release: artifact %+v, filesystem %+v", rel.Artifact, rel.Filesystem)
	}
	station := digestOf(files["fw/station-2.0.0.bin"].Data)
	want := []string{station, rel.Artifact.SHA256, digestOf(app), digestOf(fs)}
	slices.Sort(want)
	if got := cachedArtifacts(t, data); !slices.Equal(got, want) {
		t.Errorf("cache holds\n%v\nwant\n%v", got, want)
	}
	if got, err := os.ReadFile(rel.Filesystem.File); err != nil || !bytes.Equal(got, fs) {
		t.Errorf("filesystem file: %v", err)
	}
}
