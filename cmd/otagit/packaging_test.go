package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The deployment files and the GitHub workflow and action run otagit
// commands with flags: these tests check every one against the flags the
// commands have, so a renamed flag cannot leave them broken.

// commandFlags returns the flags of an otagit subcommand, from its -h.
func commandFlags(t *testing.T, sub string) map[string]bool {
	t.Helper()
	code, _, errs := runCLI(t, sub, "-h")
	if code != 0 {
		t.Fatalf("otagit %s -h: exit %d: %s", sub, code, errs)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(errs, -1) {
		flags[m[1]] = true
	}
	if len(flags) == 0 {
		t.Fatalf("otagit %s -h lists no flags:\n%s", sub, errs)
	}
	return flags
}

// checkFlags fails for every --flag (or -flag) token in args that sub
// does not have.
func checkFlags(t *testing.T, where, sub string, args []string) {
	t.Helper()
	known := commandFlags(t, sub)
	for _, a := range args {
		a = strings.Trim(a, `"'()`)
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !known[name] {
			t.Errorf("%s: otagit %s has no flag %s", where, sub, a)
		}
	}
}

var otagitCall = regexp.MustCompile(`(?:^|[\s&;|(])otagit\s+([a-z]+)((?:\s+[^\s>|&;]+)*)`)

// checkScript checks the otagit calls in a shell script; args=(...) lines
// count for the script's call (the action builds plan's flags that way).
// It returns the subcommands called.
func checkScript(t *testing.T, where, script string) []string {
	t.Helper()
	var subs, extra []string
	for _, m := range regexp.MustCompile(`args\+?=\(([^)]*)\)`).FindAllStringSubmatch(script, -1) {
		extra = append(extra, strings.Fields(m[1])...)
	}
	for _, m := range otagitCall.FindAllStringSubmatch(script, -1) {
		sub := m[1]
		if !commandExists(sub) {
			t.Errorf("%s: otagit %s is not a command", where, sub)
			continue
		}
		subs = append(subs, sub)
		checkFlags(t, where, sub, append(strings.Fields(m[2]), extra...))
	}
	return subs
}

func commandExists(name string) bool {
	for _, c := range commands() {
		if c.name == name {
			return true
		}
	}
	return false
}

type workflowStep struct {
	Name  string            `yaml:"name"`
	Uses  string            `yaml:"uses"`
	Run   string            `yaml:"run"`
	If    string            `yaml:"if"`
	With  map[string]string `yaml:"with"`
	Env   map[string]string `yaml:"env"`
	Shell string            `yaml:"shell"`
}

// checkSteps checks the steps of a workflow job or composite action: otagit
// is installed before it runs, every call exists with its flags, and the
// commands that read GitHub releases get a token.
func checkSteps(t *testing.T, where string, env map[string]string, steps []workflowStep, composite bool) (subs []string) {
	t.Helper()
	installed := false
	for i, st := range steps {
		at := where + ": step " + st.Name
		if st.Name == "" {
			at = where + ": step " + st.Uses
		}
		if composite && st.Run != "" && st.Shell == "" {
			t.Errorf("%s: a composite action's run step needs shell", at)
		}
		if strings.Contains(st.Run, "go install github.com/otagit/otagit/cmd/otagit@") ||
			strings.Contains(st.Run, `go install "github.com/otagit/otagit/cmd/otagit@`) || strings.Contains(st.Run, "./cmd/otagit") {
			installed = true
			continue
		}
		called := checkScript(t, at, st.Run)
		if len(called) > 0 && !installed {
			t.Errorf("%s (step %d): runs otagit before installing it", at, i)
		}
		for _, sub := range called {
			if (sub == "validate" || sub == "plan") && st.Env["GITHUB_TOKEN"] == "" && env["GITHUB_TOKEN"] == "" {
				t.Errorf("%s: otagit %s gets no GITHUB_TOKEN: firmware in GitHub releases cannot be read", at, sub)
			}
		}
		subs = append(subs, called...)
	}
	return subs
}

func TestStarterWorkflow(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "firmware-repo-template", filepath.FromSlash(workflowFile)))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Env  map[string]string `yaml:"env"`
		Jobs map[string]struct {
			Env   map[string]string `yaml:"env"`
			Steps []workflowStep    `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	if wf.Env["GITHUB_TOKEN"] != "${{ secrets.GITHUB_TOKEN }}" {
		t.Errorf("GITHUB_TOKEN: got %q, want the job's token", wf.Env["GITHUB_TOKEN"])
	}
	if !strings.Contains(string(b), unpinned) {
		t.Errorf("the workflow has no %q line for otagit init to pin", unpinned)
	}
	var subs []string
	for name, job := range wf.Jobs {
		env := map[string]string{}
		for k, v := range wf.Env {
			env[k] = v
		}
		for k, v := range job.Env {
			env[k] = v
		}
		subs = append(subs, checkSteps(t, "job "+name, env, job.Steps, false)...)
	}
	if got := strings.Join(subs, " "); got != "validate plan" {
		t.Errorf("the workflow runs otagit %s, want validate and plan", got)
	}
}

func TestInitPinsTheWorkflow(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := runCLI(t, "init", "--no-git", dir)
	if code != 0 {
		t.Fatalf("init: %s", errs)
	}
	if err := pinWorkflow(dir, "v1.4.2"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(workflowFile)))
	if !strings.Contains(string(b), "OTAGIT_VERSION: v1.4.2\n") || strings.Contains(string(b), unpinned) {
		t.Errorf("pinned workflow:\n%s", b)
	}
	// A development build has no version to pin: the line stays.
	dev := t.TempDir()
	runCLI(t, "init", "--no-git", dev)
	pinWorkflow(dev, "(devel)")
	if b, _ := os.ReadFile(filepath.Join(dev, filepath.FromSlash(workflowFile))); !strings.Contains(string(b), unpinned) {
		t.Errorf("(devel) changed the workflow:\n%s", b)
	}
}

func TestAction(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var act struct {
		Name   string `yaml:"name"`
		Inputs map[string]struct {
			Default string `yaml:"default"`
		} `yaml:"inputs"`
		Runs struct {
			Using string         `yaml:"using"`
			Steps []workflowStep `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(b, &act); err != nil {
		t.Fatal(err)
	}
	if act.Runs.Using != "composite" || act.Name == "" {
		t.Fatalf("action: name %q, runs.using %q, want a composite action", act.Name, act.Runs.Using)
	}
	// Every ${{ inputs.x }} the steps use is declared.
	for _, m := range regexp.MustCompile(`inputs\.([a-z-]+)`).FindAllStringSubmatch(string(b), -1) {
		if _, ok := act.Inputs[m[1]]; !ok {
			t.Errorf("action uses undeclared input %q", m[1])
		}
	}
	subs := checkSteps(t, "action", nil, act.Runs.Steps, true)
	if got := strings.Join(subs, " "); got != "validate plan" {
		t.Errorf("the action runs otagit %s, want validate and plan", got)
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"CGO_ENABLED=0 go build -trimpath", "USER 65532:65532", "VOLUME /var/lib/otagit", `ENTRYPOINT ["otagit"]`, "AS build", "COPY --from=build"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	m := regexp.MustCompile(`(?m)^CMD (\[.*\])$`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("Dockerfile has no CMD [...]")
	}
	var cmd []string
	if err := json.Unmarshal([]byte(m[1]), &cmd); err != nil || len(cmd) == 0 || cmd[0] != "serve" {
		t.Fatalf("CMD %s: want [\"serve\", ...] (%v)", m[1], err)
	}
	checkFlags(t, "Dockerfile CMD", "serve", cmd[1:])
	if !strings.Contains(strings.Join(cmd, " "), "--data /var/lib/otagit") {
		t.Errorf("CMD %v does not keep the data in the volume", cmd)
	}
}

func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "otagit.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			unit[k] = append(unit[k], v)
		}
	}
	for key, want := range map[string]string{
		"StateDirectory": "otagit", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "CapabilityBoundingSet": "", "DynamicUser": "yes", "ExecReload": "/bin/kill -HUP $MAINPID",
	} {
		if got := unit[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	exec := unit["ExecStart"]
	if len(exec) != 1 {
		t.Fatalf("ExecStart: %q", exec)
	}
	args := strings.Fields(exec[0])
	if len(args) < 2 || args[0] != "/usr/local/bin/otagit" || args[1] != "serve" {
		t.Fatalf("ExecStart %q: want /usr/local/bin/otagit serve ...", exec[0])
	}
	if !strings.Contains(exec[0], "--data /var/lib/otagit ") {
		t.Errorf("ExecStart %q: the data directory is not the StateDirectory", exec[0])
	}
	checkFlags(t, "ExecStart", "serve", args[2:])
}

// TestExamples checks that the PlatformIO example builds the sketches it
// names (they are kept once, not copied) with the version its script
// stamps, and that each sketch reports that version to /update.
func TestExamples(t *testing.T) {
	root := filepath.Join("..", "..", "examples")
	main, err := os.ReadFile(filepath.Join(root, "platformio", "src", "main.cpp"))
	if err != nil {
		t.Fatal(err)
	}
	incs := regexp.MustCompile(`#include "([^"]+)"`).FindAllStringSubmatch(string(main), -1)
	if len(incs) != 2 {
		t.Fatalf("main.cpp includes %v, want the ESP8266 and the ESP32 sketch", incs)
	}
	for _, m := range incs {
		path := filepath.Join(root, "platformio", "src", filepath.FromSlash(m[1]))
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("main.cpp includes %s: %v", m[1], err)
			continue
		}
		s := string(b)
		for _, want := range []string{"#ifndef FIRMWARE_VERSION", `" v" FIRMWARE_VERSION`, "OTA_URL, FIRMWARE_VERSION)", "setAuthorization(OTA_USER, OTA_PASS)", "/update\""} {
			if !strings.Contains(s, want) {
				t.Errorf("%s lacks %q", m[1], want)
			}
		}
	}
	ini, err := os.ReadFile(filepath.Join(root, "platformio", "platformio.ini"))
	if err != nil {
		t.Fatal(err)
	}
	script := regexp.MustCompile(`extra_scripts = pre:(\S+)`).FindStringSubmatch(string(ini))
	if script == nil {
		t.Fatal("platformio.ini runs no pre: extra script")
	}
	b, err := os.ReadFile(filepath.Join(root, "platformio", script[1]))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`("FIRMWARE_VERSION", env.StringifyMacro(version))`, "version.txt", "git"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", script[1], want)
		}
	}
}
