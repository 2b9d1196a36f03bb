package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/otagit/otagit/espimage"
	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/plan"
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

// TestPlanDeviceVersions plans a change from the versions devices run, read
// from a running server's device API (--fleet) or a file (--versions), and
// checks the plan against what that server answers once the change lands.
// The change is the one that fooled plans starting every device at 0.0.0:
// smart-lamp drops 1.0.0 and 1.1.0 and adds 1.2.0 for devices on >=1.1.0.
func TestPlanDeviceVersions(t *testing.T) {
	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	base := repo.CommitPush("starter config")
	ts := startServer(t, repo.Bare, slog.New(slog.DiscardHandler))
	waitUntil(t, "first commit", func() bool { return ts.status(t).Commit == base })

	const desk, floor = "18:FE:34:A1:00:01", "18:FE:34:A1:00:02"
	// The desk lamp is up to date; the floor lamp still asks from 1.0.0
	// (it is offered 1.1.0 and has not installed it yet).
	if res, _ := ts.deviceGet(t, "/update", esp8266(desk, "1.1.0")); res.StatusCode != http.StatusNotModified {
		t.Fatalf("desk lamp on 1.1.0: %d", res.StatusCode)
	}
	if res, _ := ts.deviceGet(t, "/update", esp8266(floor, "1.0.0")); res.StatusCode != http.StatusOK {
		t.Fatalf("floor lamp on 1.0.0: %d", res.StatusCode)
	}

	img := testrepo.Image(t, espimage.ESP8266, "smart-lamp", "1.2.0", 16<<10)
	repo.Write("firmware/smart-lamp/smart-lamp-1.2.0.bin", img)
	repo.Remove("firmware/smart-lamp/smart-lamp-1.0.0.bin")
	repo.Remove("firmware/smart-lamp/smart-lamp-1.1.0.bin")
	repo.WriteString("platforms/smart-lamp.toml", "chip = \"esp8266\"\n\n[[release]]\nversion = \"1.2.0\"\n"+
		"file = \"firmware/smart-lamp/smart-lamp-1.2.0.bin\"\nfrom = \">=1.1.0\"\n")
	head := repo.Commit("smart-lamp 1.2.0 for lamps on 1.1.0 or later")

	code, out, errs := runCLI(t, "plan", "--base", base, "--head", head, "--fleet", "http://"+ts.addr, repo.Work)
	if code != 0 {
		t.Fatalf("plan --fleet: exit %d: %s%s", code, out, errs)
	}
	for _, want := range []string{
		"**2 devices change; whitelist +0 -0; releases +1 -2 ~0**",
		"| office desk lamp | `" + desk + "` | smart-lamp | 1.1.0 | 1.2.0 | 1.2.0 is the newest release for this device (running 1.1.0) | 1.1.0 | 1.2.0 |",
		"| office floor lamp | `" + floor + "` | smart-lamp | 1.1.0 | 1.0.0 | 1.2.0 requires a device on &gt;=1.1.0 (running 1.0.0) | 1.0.0 | — |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan --fleet lacks %q:\n%s", want, out)
		}
	}

	// The server agrees once the change lands.
	repo.Push()
	ts.push(t, head)
	waitUntil(t, "head served", func() bool { return ts.status(t).Commit == head })
	if res, body := ts.deviceGet(t, "/update", esp8266(desk, "1.1.0")); res.StatusCode != http.StatusOK || !bytes.Equal(body, img) {
		t.Errorf("desk lamp on 1.1.0: %d, not 1.2.0", res.StatusCode)
	}
	if res, _ := ts.deviceGet(t, "/update", esp8266(floor, "1.0.0")); res.StatusCode != http.StatusNotModified {
		t.Errorf("floor lamp on 1.0.0: %d, want 304", res.StatusCode)
	}

	// A versions file: listed devices start from their version, the
	// others from every version they may run.
	versions := filepath.Join(t.TempDir(), "versions.txt")
	os.WriteFile(versions, []byte("# mac version\n"+desk+" 1.0.0\n"), 0o644)
	code, out, errs = runCLI(t, "plan", "--base", base, "--head", head, "--versions", versions, "--format", "json", repo.Work)
	var doc struct{ Devices []plan.DeviceChange }
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil {
		t.Fatalf("plan --versions: exit %d: %s%s", code, out, errs)
	}
	type row struct{ mac, runs, starts, after string }
	var got []row
	for _, d := range doc.Devices {
		got = append(got, row{d.MAC, d.Runs, strings.Join(d.Starts, " "), d.After.EndsOn})
	}
	want := []row{{desk, "1.0.0", "", "1.0.0"}, {floor, "", "1.1.0", "1.2.0"}, {floor, "", "1.0.0", "1.0.0"}, {floor, "", "0.0.0", "0.0.0"}}
	if !slices.Equal(got, want) {
		t.Errorf("plan --versions: got %v, want %v", got, want)
	}

	os.WriteFile(versions, []byte(desk+" 1.0.0\nnope 1.0.0\n"), 0o644)
	if code, _, errs := runCLI(t, "plan", "--base", base, "--versions", versions, repo.Work); code != 1 || !strings.Contains(errs, versions+`:2: "nope": not a MAC address`) {
		t.Errorf("bad versions file: exit %d: %s", code, errs)
	}
	if code, _, errs := runCLI(t, "plan", "--base", base, "--versions", versions, "--fleet", "http://"+ts.addr, repo.Work); code != 2 || !strings.Contains(errs, "exclude each other") {
		t.Errorf("--versions with --fleet: exit %d: %s", code, errs)
	}
	if code, _, errs := runCLI(t, "plan", "--base", base, "--fleet", "ftp://"+ts.addr, repo.Work); code != 1 || !strings.Contains(errs, "--fleet: server URL") {
		t.Errorf("--fleet ftp://: exit %d: %s", code, errs)
	}
}
