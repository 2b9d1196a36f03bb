package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanTemplate runs `otagit plan` on the starter repository with a
// whitelist change, as a pull request would.
func TestPlanTemplate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet")
	if code, out, errs := runCLI(t, "init", dir); code != 0 {
		t.Fatalf("init: %s%s", out, errs)
	}
	if err := commitAll(dir, "starter"); err != nil {
		t.Fatal(err)
	}
	office := filepath.Join(dir, "devices", "office.toml")
	os.WriteFile(office, []byte(`[[device]]
mac = "18:FE:34:A1:00:01"
platform = "smart-lamp"
name = "office desk lamp"

[[device]]
mac = "18:FE:34:A1:00:09"
platform = "smart-lamp"
name = "hall lamp"
`), 0o644)
	if err := commitAll(dir, "swap the floor lamp for the hall lamp"); err != nil {
		t.Fatal(err)
	}

	code, out, errs := runCLI(t, "plan", "--base", "HEAD~1", "--head", "HEAD", dir)
	if code != 0 {
		t.Fatalf("plan: exit %d: %s%s", code, out, errs)
	}
	for _, want := range []string{
		"**2 devices change; whitelist +1 -1; releases +0 -0 ~0**",
		"| office floor lamp | `18:FE:34:A1:00:02` | smart-lamp | 1.1.0 | no longer allowed | not whitelisted |",
		"| hall lamp | `18:FE:34:A1:00:09` | smart-lamp | newly allowed | 1.1.0 |",
		"- added `18:FE:34:A1:00:09` hall lamp (smart-lamp)",
		"- removed `18:FE:34:A1:00:02` office floor lamp (smart-lamp)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "18:FE:34:A1:00:01") && strings.Contains(out, "| office desk lamp |") {
		t.Errorf("the unchanged desk lamp is listed:\n%s", out)
	}

	code, out, _ = runCLI(t, "plan", "--base", "HEAD~1", "--format", "json", dir)
	var doc struct {
		Valid   bool
		Summary string
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || !doc.Valid || doc.Summary != "2 devices change; whitelist +1 -1; releases +0 -0 ~0" {
		t.Errorf("json plan: exit %d, %+v\n%s", code, doc, out)
	}

	// A broken head: the plan shows the errors and exits 1.
	os.WriteFile(office, []byte("[[device]]\nmac = \"nope\"\nplatform = \"smart-lamp\"\n"), 0o644)
	if err := commitAll(dir, "broken"); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "plan", "--base", "HEAD~1", dir)
	if code != 1 || !strings.Contains(out, "This config would be refused") || !strings.Contains(out, `devices/office.toml:2: device[0].mac: "nope" is not a MAC address`) {
		t.Errorf("broken head: exit %d:\n%s", code, out)
	}
	if code, _, errs := runCLI(t, "plan", "--base", "nosuchrev", dir); code != 1 || !strings.Contains(errs, `revision "nosuchrev"`) {
		t.Errorf("bad revision: exit %d: %s", code, errs)
	}
}
