package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	// validate and plan use GitHub when a token is in the environment (as
	// in a GitHub Actions job); these tests must not reach the network.
	t.Setenv(envGitHubToken, "")
	t.Setenv(envActionsToken, "")
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestInitThenValidate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet")
	code, out, errs := runCLI(t, "init", dir)
	if code != 0 {
		t.Fatalf("init: exit %d: %s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "platforms", "smart-lamp.toml")); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatalf("init did not make a Git repository: %v", err)
	}
	wt, _ := repo.Worktree()
	st, _ := wt.Status()
	if st.IsClean() {
		t.Errorf("init: files not staged")
	}

	code, out, _ = runCLI(t, "validate", dir)
	if code != 0 || !strings.Contains(out, "ok: 2 platforms, 4 releases, 4 devices, 0 warnings") {
		t.Fatalf("validate template: exit %d: %s", code, out)
	}

	// Init refuses to overwrite.
	if code, _, errs := runCLI(t, "init", dir); code != 1 || !strings.Contains(errs, "not empty") {
		t.Errorf("init over existing: exit %d: %s", code, errs)
	}

	// Break it: every error is reported as file:line: key: message.
	os.WriteFile(filepath.Join(dir, "platforms", "smart-lamp.toml"), []byte("chip = \"esp8266\"\n[[release]]\nversion = \"1.0\"\nfile = \"firmware/nope.bin\"\n"), 0o644)
	code, out, _ = runCLI(t, "validate", dir)
	want := []string{
		`platforms/smart-lamp.toml:3: release[0].version: "1.0" is not a semantic version`,
		`platforms/smart-lamp.toml:4: release[0].file: binary "firmware/nope.bin" not found in the repository`,
		`2 errors, 0 warnings: this config would be refused`,
	}
	if code != 1 {
		t.Errorf("validate broken: exit %d, want 1", code)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("validate output lacks %q:\n%s", w, out)
		}
	}
}

func TestInitNoGit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet")
	if code, _, errs := runCLI(t, "init", "--no-git", dir); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); !os.IsNotExist(err) {
		t.Errorf("--no-git made a repository")
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage: otagit <command>"},
		{[]string{"help"}, 0, "Usage: otagit <command>"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"serve"}, 2, "Usage: otagit serve"},
		{[]string{"serve", "--repo", "x", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"serve", "-h"}, 0, "-webhook-secret-file"},
		{[]string{"init"}, 2, "Usage: otagit init"},
		{[]string{"validate", "a", "b"}, 2, "Usage: otagit validate"},
		{[]string{"validate", "/nonexistent/dir"}, 1, "no such file"},
		{[]string{"serve", "--repo", "x", "--log-format", "xml"}, 1, "log format"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errs := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(out+errs, tt.want) {
				t.Errorf("exit %d, want %d; output lacks %q:\n%s%s", code, tt.code, tt.want, out, errs)
			}
		})
	}
}

func TestReadSecret(t *testing.T) {
	f := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(f, []byte("from-file\n"), 0o600)
	t.Setenv("OTAGIT_TEST_SECRET", "from-env")
	if got, _ := readSecret(f, "OTAGIT_TEST_SECRET"); string(got) != "from-file" {
		t.Errorf("file: got %q", got)
	}
	if got, _ := readSecret("", "OTAGIT_TEST_SECRET"); string(got) != "from-env" {
		t.Errorf("env: got %q", got)
	}
	if _, err := readSecret(filepath.Join(t.TempDir(), "missing"), "X"); err == nil {
		t.Errorf("missing file: no error")
	}
}

func TestListenersOf(t *testing.T) {
	if got := listenersOf(nil); len(got) != 1 || got[0].Addr != defaultListen {
		t.Errorf("no --listen: %+v, want %s", got, defaultListen)
	}
	got := listenersOf([]string{":8080", ":8000"})
	if len(got) != 2 || got[0].Addr != ":8080" || got[1].Addr != ":8000" {
		t.Errorf("two --listen: %+v", got)
	}
}
