package plan

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/rollout"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// templateFS copies the starter repository so tests can change it.
func templateFS(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(repotemplate.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(repotemplate.FS(), p)
		m[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func load(t *testing.T, files fstest.MapFS) *rollout.Fleet {
	t.Helper()
	f, probs := config.Load(files, artifact.ReadInspector{})
	if f == nil {
		t.Fatalf("config does not load: %v", probs)
	}
	return f
}

func TestPlanWhitelistChange(t *testing.T) {
	base := templateFS(t)
	head := templateFS(t)
	// Remove the office floor lamp, add a kitchen lamp, pin the desk lamp
	// to 1.0.0 and withdraw weather-station 2.1.0.
	head["devices/office.toml"] = &fstest.MapFile{Data: []byte(`[[device]]
mac = "18:FE:34:A1:00:01"
platform = "smart-lamp"
name = "office desk lamp"
pin = "1.0.0"

[[device]]
mac = "18:FE:34:A1:00:03"
platform = "smart-lamp"
name = "kitchen lamp"
`)}
	head["platforms/weather-station.toml"] = &fstest.MapFile{Data: []byte(`chip = "esp32"
[[release]]
version = "2.0.0"
file = "firmware/weather-station/weather-station-2.0.0.bin"
`)}
	p := Make(Input{Base: load(t, base), Head: load(t, head), Now: now})

	// The devices' versions are not known: a line holds for the versions
	// it names. Removing weather-station 2.1.0 leaves stations that run it
	// where they are; only those below it end elsewhere than before.
	type row struct{ mac, kind, runs, before, after, offered string }
	var got []row
	for _, d := range p.Devices {
		got = append(got, row{d.MAC, d.Kind, runs(d), d.Before, d.After.EndsOn, d.After.Offered})
	}
	want := []row{
		{"18:FE:34:A1:00:01", "changed", "unknown: 1.1.0 or 0.0.0", "1.1.0", "1.0.0", "1.0.0"},
		{"18:FE:34:A1:00:01", "changed", "unknown: 1.0.0", "1.1.0", "1.0.0", ""},
		{"18:FE:34:A1:00:02", "no longer allowed", "unknown", "1.1.0", "", ""},
		{"18:FE:34:A1:00:03", "newly allowed", "unknown: 1.1.0", "", "1.1.0", ""},
		{"18:FE:34:A1:00:03", "newly allowed", "unknown: 1.0.0 or 0.0.0", "", "1.1.0", "1.1.0"},
		{"24:0A:C4:B2:00:01", "changed", "unknown: 2.0.0", "2.1.0", "2.0.0", ""},
		{"24:0A:C4:B2:00:01", "changed", "unknown: 0.0.0", "2.1.0", "2.0.0", "2.0.0"},
		{"24:0A:C4:B2:00:02", "changed", "unknown: 2.0.0", "2.1.0", "2.0.0", ""},
		{"24:0A:C4:B2:00:02", "changed", "unknown: 0.0.0", "2.1.0", "2.0.0", "2.0.0"},
	}
	if len(got) != len(want) {
		t.Fatalf("device changes: got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("change %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if len(p.Added) != 1 || p.Added[0].MAC != "18:FE:34:A1:00:03" || len(p.Removed) != 1 || p.Removed[0].MAC != "18:FE:34:A1:00:02" {
		t.Errorf("whitelist: added %v removed %v", p.Added, p.Removed)
	}
	if len(p.Changed) != 1 || p.Changed[0].What != "pin none → 1.0.0" {
		t.Errorf("changed: %v", p.Changed)
	}
	if len(p.Releases) != 1 || p.Releases[0].Kind != "removed" || p.Releases[0].Version != "2.1.0" {
		t.Errorf("releases: %v", p.Releases)
	}
	if got, want := p.Summary(), "5 devices change; whitelist +1 -1; releases +0 -1 ~0"; got != want {
		t.Errorf("summary: got %q, want %q", got, want)
	}

	var md bytes.Buffer
	if err := WriteMarkdown(&md, Header{Base: "aaaa", Head: "bbbb", At: now}, &p); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		Marker,
		"**5 devices change; whitelist +1 -1; releases +0 -1 ~0**",
		"| office floor lamp | `18:FE:34:A1:00:02` | smart-lamp | 1.1.0 | no longer allowed |",
		"| kitchen lamp | `18:FE:34:A1:00:03` | smart-lamp | newly allowed | 1.1.0 |",
		"| office desk lamp | `18:FE:34:A1:00:01` | smart-lamp | 1.1.0 | 1.0.0 | pinned to 1.0.0 (running 1.1.0 or 0.0.0) | unknown: 1.1.0 or 0.0.0 | 1.0.0 |",
		"| office desk lamp | `18:FE:34:A1:00:01` | smart-lamp | 1.1.0 | 1.0.0 | pinned to 1.0.0, which it runs | unknown: 1.0.0 | — |",
		"- removed `18:FE:34:A1:00:02` office floor lamp (smart-lamp)",
		"- removed weather-station 2.1.0",
	} {
		if !strings.Contains(md.String(), w) {
			t.Errorf("markdown lacks %q:\n%s", w, md.String())
		}
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, Header{Base: "aaaa", Head: "bbbb"}, &p); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Valid   bool
		Summary string
		Devices []DeviceChange
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || !doc.Valid || len(doc.Devices) != 9 {
		t.Errorf("json: %v %+v\n%s", err, doc, js.String())
	}
}

func TestPlanStagedRelease(t *testing.T) {
	base := templateFS(t)
	head := templateFS(t)
	var devices strings.Builder
	devices.WriteString(string(base["devices/office.toml"].Data))
	for i := range 40 {
		devices.WriteString("\n[[device]]\nmac = \"18:FE:34:B0:00:" + strings.ToUpper(hex2(i)) + "\"\nplatform = \"smart-lamp\"\n")
	}
	base["devices/office.toml"] = &fstest.MapFile{Data: []byte(devices.String())}
	head["devices/office.toml"] = base["devices/office.toml"]
	head["firmware/smart-lamp/smart-lamp-1.2.0.bin"] = head["firmware/smart-lamp/smart-lamp-1.1.0.bin"]
	head["platforms/smart-lamp.toml"] = &fstest.MapFile{Data: append(append([]byte{}, head["platforms/smart-lamp.toml"].Data...),
		[]byte("\n[[release]]\nversion = \"1.2.0\"\nfile = \"firmware/smart-lamp/smart-lamp-1.2.0.bin\"\nstages = [{percent = 25}, {percent = 100, after = \"2d\"}]\n")...)}
	hf := load(t, head)
	// The release's clock starts at its commit; here, an hour ago.
	for _, r := range hf.Platform("smart-lamp").Releases {
		if r.Version.String() == "1.2.0" {
			r.IntroducedAt = now.Add(-time.Hour)
		}
	}
	p := Make(Input{Base: load(t, base), Head: hf, Now: now})
	if len(p.Stages) != 1 || len(p.Stages[0].Stages) != 2 {
		t.Fatalf("stages: %+v", p.Stages)
	}
	s1, s2 := p.Stages[0].Stages[0], p.Stages[0].Stages[1]
	if !s1.Active || s2.Active || len(s1.Devices)+len(s2.Devices) != 42 {
		t.Errorf("stage cohorts: active %v/%v, %d + %d devices, want 42", s1.Active, s2.Active, len(s1.Devices), len(s2.Devices))
	}
	// Exactly the devices of stage 1 change now, to 1.2.0.
	if len(p.Devices) != len(s1.Devices) {
		t.Errorf("%d devices change, stage 1 has %d", len(p.Devices), len(s1.Devices))
	}
	in1 := map[string]bool{}
	for _, d := range s1.Devices {
		in1[d.MAC] = true
	}
	for _, d := range p.Devices {
		if !in1[d.MAC] || d.Before != "1.1.0" || d.After.EndsOn != "1.2.0" {
			t.Errorf("change %+v: not a stage 1 device going 1.1.0 -> 1.2.0", d)
		}
	}
	// Two days later everyone has it.
	later := Make(Input{Base: load(t, base), Head: hf, Now: now.Add(48 * time.Hour)})
	if len(later.Devices) != 42 {
		t.Errorf("after stage 2: %d devices change, want 42", len(later.Devices))
	}
}

func TestPlanReportedVersions(t *testing.T) {
	base := templateFS(t)
	head := templateFS(t)
	head["platforms/smart-lamp.toml"] = &fstest.MapFile{Data: []byte(strings.Replace(string(base["platforms/smart-lamp.toml"].Data),
		"version = \"1.1.0\"", "version = \"1.1.0\"\nyanked = true", 1))}
	reported := func(m rollout.MAC) (string, bool) {
		if m.String() == "18:FE:34:A1:00:01" {
			return "1.1.0", true
		}
		return "", false
	}
	p := Make(Input{Base: load(t, base), Head: load(t, head), Now: now, Reported: reported})
	var desk *DeviceChange
	for i := range p.Devices {
		if p.Devices[i].MAC == "18:FE:34:A1:00:01" {
			desk = &p.Devices[i]
		}
	}
	if desk == nil || desk.Runs != "1.1.0" || desk.Before != "1.1.0" || desk.After.EndsOn != "1.0.0" ||
		!strings.Contains(desk.After.Reason, "rolling back to 1.0.0") {
		t.Errorf("desk lamp on yanked 1.1.0: got %+v", desk)
	}
	if len(p.Releases) != 1 || p.Releases[0].Kind != "changed" || p.Releases[0].What != "yanked" {
		t.Errorf("releases: %+v", p.Releases)
	}
}

func TestMarkdownInvalidHead(t *testing.T) {
	var b bytes.Buffer
	WriteMarkdown(&b, Header{Base: "a", Head: "b", HeadProblems: []string{"devices/x.toml:3: device[0].mac: bad | `x`"}}, &Plan{})
	if !strings.Contains(b.String(), "This config would be refused") || !strings.Contains(b.String(), `bad \| 'x'`) {
		t.Errorf("markdown:\n%s", b.String())
	}
}

func hex2(i int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[i>>4], digits[i&15]})
}
