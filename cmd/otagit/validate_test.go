package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"

	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/testrepo"
)

// brokenFleet writes the starter repository to ws/fleet and breaks it: an
// error (bad version) and a warning (no devices).
func brokenFleet(t *testing.T, ws string) string {
	t.Helper()
	dir := filepath.Join(ws, "fleet")
	if code, out, errs := runCLI(t, "init", "--no-git", dir); code != 0 {
		t.Fatalf("init: exit %d: %s%s", code, out, errs)
	}
	os.WriteFile(filepath.Join(dir, "platforms", "smart-lamp.toml"),
		[]byte("chip = \"esp8266\"\n[[release]]\nversion = \"1.0\"\nfile = \"firmware/smart-lamp/smart-lamp-1.0.0.bin\"\n"), 0o644)
	if err := os.RemoveAll(filepath.Join(dir, "devices")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestValidateGitHubActions(t *testing.T) {
	ws := t.TempDir()
	dir := brokenFleet(t, ws)
	wantPlain := []string{
		`platforms/smart-lamp.toml:3: release[0].version: "1.0" is not a semantic version (MAJOR.MINOR.PATCH, e.g. "1.2.3")`,
		`devices/: warning: missing: no device is whitelisted, so every device is refused (403)`,
	}
	wantActions := []string{
		`::error file=fleet/platforms/smart-lamp.toml,line=3,title=otagit::release[0].version: "1.0" is not a semantic version (MAJOR.MINOR.PATCH, e.g. "1.2.3")`,
		`::warning file=fleet/devices,title=otagit::missing: no device is whitelisted, so every device is refused (403)`,
	}

	t.Run("outside Actions", func(t *testing.T) {
		t.Setenv("GITHUB_ACTIONS", "")
		code, out, _ := runCLI(t, "validate", dir)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		for _, w := range wantPlain {
			if !strings.Contains(out, w+"\n") {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
		if strings.Contains(out, "::") {
			t.Errorf("workflow commands outside GitHub Actions:\n%s", out)
		}
	})
	t.Run("workspace", func(t *testing.T) {
		t.Setenv("GITHUB_ACTIONS", "true")
		t.Setenv("GITHUB_WORKSPACE", ws)
		code, out, _ := runCLI(t, "validate", dir) // an absolute DIR
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		for _, w := range append(wantPlain, wantActions...) {
			if !strings.Contains(out, w+"\n") {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	})
	t.Run("relative DIR, no workspace", func(t *testing.T) {
		t.Setenv("GITHUB_ACTIONS", "true")
		t.Setenv("GITHUB_WORKSPACE", "")
		t.Chdir(ws)
		_, out, _ := runCLI(t, "validate", "fleet")
		for _, w := range wantActions {
			if !strings.Contains(out, w+"\n") {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	})
	t.Run("DIR is the workspace", func(t *testing.T) {
		t.Setenv("GITHUB_ACTIONS", "true")
		t.Setenv("GITHUB_WORKSPACE", dir)
		t.Chdir(dir)
		_, out, _ := runCLI(t, "validate")
		want := `::error file=platforms/smart-lamp.toml,line=3,title=otagit::release[0].version: `
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	})
}

func TestGitHubAnnotationEscaping(t *testing.T) {
	t.Setenv("GITHUB_WORKSPACE", "")
	tests := []struct {
		p    config.Problem
		want string
	}{
		{
			config.Problem{File: "platforms/a,b:c.toml", Line: 7, Key: "release[0].file", Message: "100% wrong\r\nsecond line: a, b"},
			`::error file=platforms/a%2Cb%3Ac.toml,line=7,title=otagit::release[0].file: 100%25 wrong%0D%0Asecond line: a, b`,
		},
		{
			config.Problem{File: "devices/x.toml", Message: "whole file", Warning: true},
			`::warning file=devices/x.toml,title=otagit::whole file`,
		},
	}
	for _, tt := range tests {
		if got := githubAnnotation(".", tt.p); got != tt.want {
			t.Errorf("githubAnnotation(%+v):\ngot  %s\nwant %s", tt.p, got, tt.want)
		}
	}
}

// TestValidateGitWorkTree: in a Git work tree, validate checks what a
// commit would contain.
func TestValidateGitWorkTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet")
	if code, out, errs := runCLI(t, "init", dir); code != 0 {
		t.Fatalf("init: exit %d: %s%s", code, out, errs)
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	// A new release whose binary is written but not added, and a new
	// whitelist not added either.
	lamp := filepath.Join(dir, "platforms", "smart-lamp.toml")
	platform, err := os.ReadFile(lamp)
	if err != nil {
		t.Fatal(err)
	}
	bin := testrepo.Image(t, "esp8266", "smart-lamp", "1.9.0", 4096)
	if err := os.WriteFile(filepath.Join(dir, "firmware", "smart-lamp", "smart-lamp-1.9.0.bin"), bin, 0o644); err != nil {
		t.Fatal(err)
	}
	release := "\n[[release]]\nversion = \"1.9.0\"\nfile = \"firmware/smart-lamp/smart-lamp-1.9.0.bin\"\n"
	if err := os.WriteFile(lamp, append(platform, release...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "devices", "lab.toml"), []byte("[[device]]\nmac = \"18:FE:34:00:00:99\"\nplatform = \"smart-lamp\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, _ := runCLI(t, "validate", dir)
	if code != 1 {
		t.Errorf("untracked binary: exit %d, want 1:\n%s", code, out)
	}
	for _, w := range []string{
		`platforms/smart-lamp.toml:19: release[2].file: binary "firmware/smart-lamp/smart-lamp-1.9.0.bin" not found in the repository: it is in the work tree but Git does not track it, so it is not committed: git add firmware/smart-lamp/smart-lamp-1.9.0.bin` + "\n",
		`devices/lab.toml: warning: not checked: it is in the work tree but Git does not track it, so it is not committed: git add devices/lab.toml` + "\n",
		"1 error, 1 warning: this config would be refused\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}

	// Staged, not committed: that is what the commit will contain. The
	// platform file's edit counts without staging, as `git commit -a`
	// would commit it.
	for _, p := range []string{"firmware/smart-lamp/smart-lamp-1.9.0.bin", "devices/lab.toml"} {
		if _, err := wt.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ = runCLI(t, "validate", dir)
	if code != 0 || !strings.Contains(out, "ok: 2 platforms, 5 releases, 5 devices") {
		t.Errorf("after git add: exit %d:\n%s", code, out)
	}
}

func TestValidateRepositoryTrackingNothing(t *testing.T) {
	root := t.TempDir()
	if _, err := git.PlainInit(root, false); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "fleet")
	if code, out, errs := runCLI(t, "init", "--no-git", dir); code != 0 {
		t.Fatalf("init: exit %d: %s%s", code, out, errs)
	}
	code, out, errs := runCLI(t, "validate", dir)
	if code != 0 || !strings.Contains(out, "ok: 2 platforms") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if !strings.Contains(errs, "Git tracks no file in "+dir+" yet") {
		t.Errorf("no note about the untracked directory: %q", errs)
	}
}

// TestValidateGzipReport: validate reports what gzip = true saves.
func TestValidateGzipReport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet")
	if code, out, errs := runCLI(t, "init", "--no-git", dir); code != 0 {
		t.Fatalf("init: exit %d: %s%s", code, out, errs)
	}
	toml := filepath.Join(dir, "platforms", "smart-lamp.toml")
	src, err := os.ReadFile(toml)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(toml, []byte(strings.Replace(string(src), "chip = \"esp8266\"", "chip = \"esp8266\"\ngzip = true", 1)), 0o644)
	// Images that compress as real firmware does (the starter's do not).
	for _, v := range []string{"1.0.0", "1.1.0"} {
		img, err := espimage.Build(espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: v, Size: 64 << 10, Arduino: true, Compressible: true})
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "firmware", "smart-lamp", "smart-lamp-"+v+".bin"), img, 0o644)
	}
	code, out, errs := runCLI(t, "validate", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "gzip: ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "gzip: smart-lamp 1.1.0: ") || !strings.Contains(lines[0], "bytes (gzip of a ") ||
		!strings.HasPrefix(lines[2], "gzip: 2 releases: ") || !strings.Contains(lines[2], "% saved") {
		t.Errorf("gzip report:\n%s", strings.Join(lines, "\n"))
	}
}
