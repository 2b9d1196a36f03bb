package main

import (
	"bytes"
	"context"
	"encoding/json"
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
		{[]string{"serve"}, 2, "otagit serve: missing --repo URL|PATH"},
		{[]string{"serve", "--repo", "x", "--bogus"}, 2, "otagit serve: flag provided but not defined: -bogus"},
		{[]string{"serve", "--repo", "x", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"serve", "-h"}, 0, "-webhook-secret-file"},
		{[]string{"help", "serve"}, 0, "-webhook-secret-file"},
		{[]string{"init"}, 2, "otagit init: missing DIR"},
		{[]string{"add"}, 2, "otagit add: missing FILE.bin"},
		{[]string{"plan"}, 2, "otagit plan: missing --base REV"},
		{[]string{"plan", "--base", "x", "--format", "yaml"}, 2, `--format "yaml": use markdown or json`},
		{[]string{"demo", "now"}, 2, `unexpected argument "now"`},
		{[]string{"version", "x"}, 2, "version takes no arguments"},
		{[]string{"validate", "a", "b"}, 2, `otagit validate: unexpected argument "b"`},
		{[]string{"validate", "/nonexistent/dir"}, 1, "no such file"},
		{[]string{"serve", "--repo", "x", "--log-format", "xml"}, 1, "log format"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errs := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(out+errs, tt.want) {
				t.Errorf("exit %d, want %d; output lacks %q:\n%s%s", code, tt.code, tt.want, out, errs)
			}
			// A usage mistake is said in one line and a pointer to -h,
			// not buried in the list of every flag.
			if code == 2 && len(tt.args) > 0 && tt.args[0] != "frobnicate" {
				if n := strings.Count(errs, "\n"); n != 2 || !strings.Contains(errs, "-h' for usage") {
					t.Errorf("usage error in %d lines, want the mistake and a pointer to -h:\n%s", n, errs)
				}
			}
		})
	}
}

func TestServeListeners(t *testing.T) {
	if got, _, _ := serveListeners(nil, nil, nil, "", "", nil); len(got) != 1 || got[0].Addr != defaultListen {
		t.Errorf("no --listen: %+v, want %s", got, defaultListen)
	}
	got, _, _ := serveListeners([]string{":8080", ":8000"}, nil, []string{"127.0.0.1:9090"}, "", "", nil)
	if len(got) != 3 || got[0].Addr != ":8080" || got[1].Addr != ":8000" || got[0].Operator || !got[2].Operator || got[2].TLS != nil {
		t.Errorf("two --listen and --admin-listen: %+v", got)
	}
	if _, _, err := serveListeners(nil, []string{":8443"}, nil, "", "", nil); err == nil || !strings.Contains(err.Error(), "--tls-cert") {
		t.Errorf("--tls-listen without files: %v", err)
	}
	if _, _, err := serveListeners(nil, nil, nil, "c.pem", "k.pem", nil); err == nil || !strings.Contains(err.Error(), "--tls-listen") {
		t.Errorf("files without --tls-listen: %v", err)
	}
}

func TestServeMissingLocalRepoFailsAtOnce(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-repo")
	// A first start: the data directory does not exist yet either.
	code, _, errs := runCLI(t, "serve", "--repo", missing, "--data", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errs, missing+" does not exist") || !strings.Contains(errs, "no earlier clone") {
		t.Errorf("exit %d, want 1 and the path named:\n%s", code, errs)
	}
}

func TestVersion(t *testing.T) {
	code, out, errs := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "otagit ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: exit %d: %q %s", code, out, errs)
	}
	code, out, _ = runCLI(t, "version", "--json")
	var in struct {
		Version   string `json:"version"`
		GoVersion string `json:"go_version"`
	}
	if err := json.Unmarshal([]byte(out), &in); code != 0 || err != nil || in.Version == "" || in.GoVersion == "" {
		t.Errorf("version --json: exit %d, %v: %s", code, err, out)
	}
	if _, again, _ := runCLI(t, "--version"); !strings.HasPrefix(again, "otagit ") {
		t.Errorf("--version: %q", again)
	}
}
