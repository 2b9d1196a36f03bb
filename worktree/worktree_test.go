package worktree

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/internal/testrepo"
)

// writeConfig writes a small valid config into dir.
func writeConfig(t *testing.T, dir string) {
	t.Helper()
	files := map[string][]byte{
		"platforms/lamp.toml":      []byte("chip = \"esp8266\"\n[[release]]\nversion = \"1.0.0\"\nfile = \"fw/lamp-1.0.0.bin\"\n"),
		"platforms/station.toml":   []byte("chip = \"esp32\"\n[[release]]\nversion = \"2.0.0\"\nfile = \"fw/station-2.0.0.bin\"\n"),
		"devices/office.toml":      []byte("[[device]]\nmac = \"AA:BB:CC:DD:EE:01\"\nplatform = \"lamp\"\n"),
		"devices/site/garden.toml": []byte("[[device]]\nmac = \"AA:BB:CC:DD:EE:03\"\nplatform = \"station\"\n"),
		"fw/lamp-1.0.0.bin":        testrepo.Image(t, espimage.ESP8266, "lamp", "1.0.0", 4096),
		"fw/station-2.0.0.bin":     testrepo.Image(t, espimage.ESP32, "station", "2.0.0", 4096),
	}
	for name, data := range files {
		write(t, dir, name, data)
	}
}

func write(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// move moves name out of the config to elsewhere (outside dir) and puts a
// symbolic link to it in its place.
func move(t *testing.T, dir, name, elsewhere string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	to := filepath.Join(elsewhere, filepath.Base(p))
	if err := os.Rename(p, to); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(to, p); err != nil {
		t.Fatal(err)
	}
}

func TestFSOutsideGit(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir)
	f, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if f.Git() || f.InRepository() {
		t.Fatalf("a plain directory: Git %v, in repository %v", f.Git(), f.InRepository())
	}
	if err := fstest.TestFS(f, "platforms/lamp.toml", "devices/site/garden.toml", "fw/lamp-1.0.0.bin"); err != nil {
		t.Fatal(err)
	}

	// Links are not followed, neither to files nor to directories.
	elsewhere := t.TempDir()
	move(t, dir, "fw/lamp-1.0.0.bin", elsewhere)
	move(t, dir, "devices/site", elsewhere)
	if _, err := f.Open("fw/lamp-1.0.0.bin"); !errors.Is(err, config.ErrNotRegular) {
		t.Errorf("open a linked file: got %v, want ErrNotRegular", err)
	}
	if _, err := f.Stat("fw/lamp-1.0.0.bin"); !errors.Is(err, config.ErrNotRegular) {
		t.Errorf("stat a linked file: got %v, want ErrNotRegular", err)
	}
	if _, err := f.Open("devices/site/garden.toml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open through a linked directory: got %v, want ErrNotExist", err)
	}
	entries, err := f.ReadDir("devices")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range entries {
		types = append(types, e.Name()+" "+e.Type().String())
	}
	if want := []string{"office.toml ----------", "site L---------"}; !slices.Equal(types, want) {
		t.Errorf("devices/: got %q, want %q", types, want)
	}
	if _, err := f.Open("../x"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("open ../x: got %v, want ErrInvalid", err)
	}
}

// gitRepo makes a Git work tree in a new directory.
func gitRepo(t *testing.T) (string, *git.Worktree) {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	return dir, wt
}

func gitAdd(t *testing.T, wt *git.Worktree, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := wt.Add(n); err != nil {
			t.Fatalf("git add %s: %v", n, err)
		}
	}
}

func TestFSGit(t *testing.T) {
	dir, wt := gitRepo(t)
	writeConfig(t, dir)
	write(t, dir, ".gitignore", []byte("*.local.toml\nbuild/\n"))
	gitAdd(t, wt, ".gitignore", "platforms/lamp.toml", "devices/office.toml", "devices/site/garden.toml", "fw/lamp-1.0.0.bin")
	write(t, dir, "devices/lab.local.toml", []byte("# ignored\n"))
	write(t, dir, "build/station.bin", []byte("ignored too"))

	f, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Git() || !f.InRepository() {
		t.Fatalf("Git %v, in repository %v, want both", f.Git(), f.InRepository())
	}
	// Staged files are there (nothing is committed yet), untracked ones
	// are not.
	if err := fstest.TestFS(f, "platforms/lamp.toml", "devices/site/garden.toml", "fw/lamp-1.0.0.bin"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		ignored bool
	}{
		{"platforms/station.toml", false},
		{"fw/station-2.0.0.bin", false},
		{"devices/lab.local.toml", true},
		{"build/station.bin", true},
	} {
		_, err := f.Open(tt.name)
		var nc *config.NotCommittedError
		if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &nc) || nc.Path != tt.name || nc.Ignored != tt.ignored {
			t.Errorf("open %s: got %v (%+v), want not committed, ignored %v", tt.name, err, nc, tt.ignored)
		}
	}
	if _, err := f.Stat("build"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a directory Git has no file in: got %v, want ErrNotExist", err)
	}
	names := func(f *FS, dir string) []string {
		t.Helper()
		entries, err := f.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	if got, want := names(f, "platforms"), []string{"lamp.toml"}; !slices.Equal(got, want) {
		t.Errorf("platforms/: got %q, want %q", got, want)
	}

	untracked, err := f.Untracked(config.IsConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range untracked {
		got = append(got, u.Error())
	}
	want := []string{
		"it is in the work tree but ignored by .gitignore, so it is not committed: git add -f devices/lab.local.toml",
		"it is in the work tree but Git does not track it, so it is not committed: git add platforms/station.toml",
	}
	if !slices.Equal(got, want) {
		t.Errorf("untracked config files:\ngot  %q\nwant %q", got, want)
	}

	// What `otagit add` is about to stage counts.
	staged := f.Staging("platforms/station.toml")
	if got, want := names(staged, "platforms"), []string{"lamp.toml", "station.toml"}; !slices.Equal(got, want) {
		t.Errorf("platforms/ with station.toml staged: got %q, want %q", got, want)
	}
	if got, want := names(f, "platforms"), []string{"lamp.toml"}; !slices.Equal(got, want) {
		t.Errorf("Staging changed the original: platforms/ got %q, want %q", got, want)
	}
}

func TestFSGitSubdirectory(t *testing.T) {
	root, wt := gitRepo(t)
	dir := filepath.Join(root, "fleet")
	writeConfig(t, dir)
	gitAdd(t, wt, "fleet/platforms/lamp.toml", "fleet/fw/lamp-1.0.0.bin")
	f, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat("platforms/lamp.toml"); err != nil {
		t.Errorf("tracked file: %v", err)
	}
	if _, err := f.Stat("platforms/station.toml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("untracked file: got %v, want ErrNotExist", err)
	}

	// A directory of a repository that tracks nothing in it: every file
	// counts.
	other := filepath.Join(root, "other")
	writeConfig(t, other)
	f, err = Open(other)
	if err != nil {
		t.Fatal(err)
	}
	if f.Git() || !f.InRepository() {
		t.Errorf("nothing tracked: Git %v, in repository %v; want false, true", f.Git(), f.InRepository())
	}
	if _, err := f.Stat("platforms/station.toml"); err != nil {
		t.Errorf("nothing tracked: %v", err)
	}
}

// serverProblems loads commit of the repository in dir as the server does:
// through gitstore's TreeFS, binaries through the artifact cache.
func serverProblems(t *testing.T, dir, commit string) config.Problems {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := artifact.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, probs, err := gitstore.LoadCommit(repo, plumbing.NewHash(commit), config.LoadOptions{Inspector: cache}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return probs
}

// TestValidateAgreesWithServer: the work tree's FS gives the problems the
// server finds in the commit made from it, with a `git add` hint where a
// file is on disk but not in the commit.
func TestValidateAgreesWithServer(t *testing.T) {
	tests := []struct {
		name string
		// change edits the work tree before the commit; afterwards edits
		// it after the commit (files left untracked).
		change, afterwards func(t *testing.T, dir string)
		// hint is set when validate should say `git add`.
		hint bool
		// ok is the verdict both must reach.
		ok bool
	}{
		{name: "valid", ok: true},
		{
			name:   "symlinked binary",
			change: func(t *testing.T, dir string) { move(t, dir, "fw/lamp-1.0.0.bin", t.TempDir()) },
		},
		{
			name:   "symlinked platform file",
			change: func(t *testing.T, dir string) { move(t, dir, "platforms/station.toml", t.TempDir()) },
		},
		{
			// Both serve, without the station devices (a warning says
			// why); the garden device is then refused by both.
			name:   "symlinked devices subdirectory",
			change: func(t *testing.T, dir string) { move(t, dir, "devices/site", t.TempDir()) },
			ok:     true,
		},
		{
			name:   "symlinked platforms directory",
			change: func(t *testing.T, dir string) { move(t, dir, "platforms", t.TempDir()) },
		},
		{
			name: "untracked binary",
			change: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, "fw/station-2.0.0.bin")); err != nil {
					t.Fatal(err)
				}
			},
			afterwards: func(t *testing.T, dir string) {
				write(t, dir, "fw/station-2.0.0.bin", testrepo.Image(t, espimage.ESP32, "station", "2.0.0", 4096))
			},
			hint: true,
		},
		{
			name: "ignored binary",
			change: func(t *testing.T, dir string) {
				write(t, dir, ".gitignore", []byte("*.bin\n!lamp-*.bin\n"))
			},
			hint: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testrepo.New(t)
			writeConfig(t, r.Work)
			if tt.change != nil {
				tt.change(t, r.Work)
			}
			commit := r.Commit(tt.name)
			if tt.afterwards != nil {
				tt.afterwards(t, r.Work)
			}
			want := serverProblems(t, r.Work, commit)

			f, err := Open(r.Work)
			if err != nil {
				t.Fatal(err)
			}
			res := config.LoadTree(f, config.LoadOptions{Inspector: artifact.ReadInspector{}})
			if (res.Fleet != nil) != tt.ok || (len(want.Errors()) == 0) != tt.ok {
				t.Fatalf("verdicts: validate ok %v, server ok %v, want %v\nvalidate: %v\nserver: %v",
					res.Fleet != nil, len(want.Errors()) == 0, tt.ok, res.Problems, want)
			}
			var got config.Problems
			hinted := false
			for _, p := range res.Problems {
				if msg, _, cut := strings.Cut(p.Message, ": it is in the work tree but "); cut {
					p.Message, hinted = msg, true
				}
				got = append(got, p)
			}
			if !slices.Equal(got, want) {
				t.Errorf("problems differ\nvalidate: %v\nserver:   %v", got, want)
			}
			if hinted != tt.hint {
				t.Errorf("git add hint: got %v, want %v: %v", hinted, tt.hint, res.Problems)
			}
			if tt.name == "symlinked devices subdirectory" && !slices.ContainsFunc(want, func(p config.Problem) bool {
				return p.File == "devices/site" && p.Warning && strings.Contains(p.Message, "symbolic link")
			}) {
				t.Errorf("no warning about the linked directory: %v", want)
			}
		})
	}
}
