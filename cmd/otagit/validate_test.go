package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otagit/otagit/config"
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
