package config

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/rollout"
)

// rulesFiles is a config that uses every rollout rule.
func rulesFiles(t testing.TB) fstest.MapFS {
	files := validFiles(t)
	files["fw/lamp-1.2.0.bin"] = &fstest.MapFile{Data: image(t, espimage.ESP8266, "lamp", "1.2.0")}
	files["fw/lamp-2.0.0-rc.1.bin"] = &fstest.MapFile{Data: image(t, espimage.ESP8266, "lamp", "2.0.0-rc.1")}
	files["platforms/lamp.toml"] = &fstest.MapFile{Data: []byte(`chip = "esp8266"
rollback = false

[[release]]
version = "1.0.0"
file = "fw/lamp-1.0.0.bin"

[[release]]
version = "1.1.0"
file = "fw/lamp-1.1.0.bin"
yanked = true

[[release]]
version = "1.2.0"
file = "fw/lamp-1.2.0.bin"
from = ">=1.0.0, <2.0.0"
groups = ["canary", "site-a"]
stages = [{percent = 5}, {percent = 25, after = "24h"}, {percent = 100, after = "3d"}]
halt_on_failure = "5%"
halt_min_devices = 50

[[release]]
version = "2.0.0-rc.1"
file = "fw/lamp-2.0.0-rc.1.bin"
paused = true
`)}
	files["devices/office.toml"] = &fstest.MapFile{Data: []byte(`[[group]]
name = "canary"
channel = "beta"

[[group]]
name = "frozen"
pin = "1.0.0"

[[device]]
mac = "AA:BB:CC:DD:EE:01"
platform = "lamp"
groups = ["canary"]

[[device]]
mac = "AA:BB:CC:DD:EE:02"
platform = "lamp"
groups = ["frozen", "canary"]
channel = "stable"

[[device]]
mac = "AA:BB:CC:DD:EE:04"
platform = "lamp"
pin = "1.2.0"
channel = "alpha"
`)}
	return files
}

func TestLoadRules(t *testing.T) {
	// No warnings either: the pre-release image carries "v2.0.0", which is
	// all the seed convention can say about 2.0.0-rc.1.
	fleet, probs := Load(rulesFiles(t), artifact.ReadInspector{})
	if fleet == nil || len(probs) != 0 {
		t.Fatalf("problems: %v", probs)
	}
	lamp := fleet.Platform("lamp")
	if !lamp.NoRollback || lamp.Paused {
		t.Errorf("platform flags: NoRollback %v Paused %v", lamp.NoRollback, lamp.Paused)
	}
	byV := map[string]*rollout.Release{}
	for _, r := range lamp.Releases {
		byV[r.Version.String()] = r
	}
	r12 := byV["1.2.0"]
	if r12.From == nil || !r12.From.Check(mustVersion(t, "1.5.0")) || r12.From.Check(mustVersion(t, "2.0.0")) {
		t.Errorf("from: %v", r12.From)
	}
	if got := strings.Join(r12.Groups, ","); got != "canary,site-a" {
		t.Errorf("groups: got %q", got)
	}
	wantStages := []rollout.Stage{{Percent: 5}, {Percent: 25, After: 24 * time.Hour}, {Percent: 100, After: 72 * time.Hour}}
	if len(r12.Stages) != 3 {
		t.Fatalf("stages: got %v", r12.Stages)
	}
	for i, s := range wantStages {
		if r12.Stages[i] != s {
			t.Errorf("stage %d: got %+v, want %+v", i, r12.Stages[i], s)
		}
	}
	if r12.HaltOnFailure != 0.05 || r12.HaltMinDevices != 50 {
		t.Errorf("halt: got %v/%d", r12.HaltOnFailure, r12.HaltMinDevices)
	}
	if !byV["1.1.0"].Yanked || !byV["2.0.0-rc.1"].Paused {
		t.Errorf("yanked/paused not set")
	}
	if byV["2.0.0-rc.1"].Channel != rollout.Beta || byV["1.0.0"].Channel != rollout.Stable {
		t.Errorf("channels: rc %v, 1.0.0 %v", byV["2.0.0-rc.1"].Channel, byV["1.0.0"].Channel)
	}
	if byV["1.0.0"].HaltMinDevices != defaultHaltMinDevices || byV["1.0.0"].HaltOnFailure != 0 {
		t.Errorf("defaults: %+v", byV["1.0.0"])
	}
	if byV["1.0.0"].Fingerprint == "" || byV["1.0.0"].Fingerprint == r12.Fingerprint {
		t.Errorf("fingerprints: %q %q", byV["1.0.0"].Fingerprint, r12.Fingerprint)
	}

	dev := func(s string) *rollout.Device {
		m, _ := rollout.ParseMAC(s)
		return fleet.Device(m)
	}
	tests := []struct {
		mac     string
		channel rollout.Channel
		pin     string
	}{
		{"AA:BB:CC:DD:EE:01", rollout.Beta, ""},        // channel from group canary
		{"AA:BB:CC:DD:EE:02", rollout.Stable, "1.0.0"}, // own channel wins; pin from group frozen
		{"AA:BB:CC:DD:EE:04", rollout.Alpha, "1.2.0"},  // own pin and channel
		{"AA:BB:CC:DD:EE:03", rollout.Stable, ""},      // devices/site/garden.toml, no settings
	}
	for _, tt := range tests {
		d := dev(tt.mac)
		if d == nil {
			t.Errorf("%s missing", tt.mac)
			continue
		}
		pin := ""
		if d.Pin != nil {
			pin = d.Pin.String()
		}
		if d.Channel != tt.channel || pin != tt.pin {
			t.Errorf("%s: got channel %v pin %q, want %v %q", tt.mac, d.Channel, pin, tt.channel, tt.pin)
		}
	}
	if g := fleet.Group("frozen"); g == nil || g.Pin.String() != "1.0.0" {
		t.Errorf("group frozen: %+v", g)
	}
}

func TestLoadRuleProblems(t *testing.T) {
	tests := []struct {
		name string
		file string
		data string
		want []string
	}{
		{
			name: "release rules",
			file: "platforms/station.toml",
			data: `chip = "esp32"
[[release]]
version = "2.0.0"
file = "fw/station-2.0.0.bin"
channel = "nightly"
groups = ["Canary", "x", "x"]
from = ">=banana"
stages = [{percent = 50}, {percent = 20, after = "1h"}, {percent = 90, after = "1h"}, {after = "2h", percnt = 1}]
halt_on_failure = "five"
halt_min_devices = 0
yanked = "yes"
`,
			want: []string{
				`platforms/station.toml:5: release[0].channel: unknown channel "nightly" (use stable, beta, alpha)`,
				`platforms/station.toml:6: release[0].groups: group name "Canary": use 1-64 lower-case letters, digits, '-' and '_'`,
				`platforms/station.toml:6: warning: release[0].groups: group "x" listed twice`,
				`platforms/station.toml:7: release[0].from: ">=banana" is not a version constraint (e.g. ">=1.2.0, <2.0.0"): improper constraint: ">=banana"`,
				`platforms/station.toml:8: release[0].stages[1].percent: stages must raise the percentage: 20% follows 50%`,
				`platforms/station.toml:8: release[0].stages[2].after: stages must start one after the other: 1h0m0s is not after 1h0m0s`,
				`platforms/station.toml:8: release[0].stages[3].percent: missing required key`,
				`platforms/station.toml:8: release[0].stages[3].percnt: unknown key (allowed here: percent, after)`,
				`platforms/station.toml:9: release[0].halt_on_failure: "five" is not a percentage (write e.g. "5%")`,
				`platforms/station.toml:10: release[0].halt_min_devices: must be a positive integer`,
				`platforms/station.toml:11: release[0].yanked: must be true or false, not a string`,
			},
		},
		{
			name: "pre-release on stable",
			file: "platforms/station.toml",
			data: "chip = \"esp32\"\n[[release]]\nversion = \"2.0.0-rc.1\"\nfile = \"fw/station-2.0.0.bin\"\nchannel = \"stable\"\n",
			want: []string{
				`platforms/station.toml:4: warning: release[0].file: binary "fw/station-2.0.0.bin": descriptor says version 2.0.0; release is station 2.0.0-rc.1`,
				`platforms/station.toml:5: release[0].channel: 2.0.0-rc.1 is a pre-release: it cannot be on the stable channel`,
			},
		},
		{
			name: "bad durations and percentages",
			file: "platforms/station.toml",
			data: "chip = \"esp32\"\n[[release]]\nversion = \"2.0.0\"\nfile = \"fw/station-2.0.0.bin\"\nstages = [{percent = 150, after = \"soon\"}]\nhalt_on_failure = \"0%\"\n",
			want: []string{
				`platforms/station.toml:5: release[0].stages[0].percent: must be a number above 0 and at most 100`,
				`platforms/station.toml:5: release[0].stages[0].after: "soon" is not a duration (e.g. "24h", "90m", "3d")`,
				`platforms/station.toml:6: release[0].halt_on_failure: must be above 0% and at most 100%`,
			},
		},
		{
			name: "pins and groups",
			file: "devices/office.toml",
			data: `[[group]]
name = "frozen"
pin = "9.9.9"

[[group]]
name = "frozen"

[[group]]
pin = "1.0"

[[device]]
mac = "AA:BB:CC:DD:EE:01"
platform = "lamp"
groups = ["frozen"]

[[device]]
mac = "AA:BB:CC:DD:EE:02"
platform = "lamp"
pin = "1.5.0"
channel = "edge"
`,
			want: []string{
				`devices/office.toml:3: group[0].pin: device AA:BB:CC:DD:EE:01 (in devices/office.toml:11) is pinned to 9.9.9 by this group, but platform lamp has no release 9.9.9`,
				`devices/office.toml:6: group[1].name: group "frozen" is already defined at devices/office.toml:2`,
				`devices/office.toml:8: group[2].name: missing required key`,
				`devices/office.toml:9: group[2].pin: "1.0" is not a semantic version`,
				`devices/office.toml:20: device[1].channel: unknown channel "edge" (use stable, beta, alpha)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := validFiles(t)
			files[tt.file] = &fstest.MapFile{Data: []byte(tt.data)}
			fleet, probs := Load(files, artifact.ReadInspector{})
			var got []string
			for _, p := range probs {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if fleet != nil {
				t.Error("fleet built despite errors")
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"24h", 24 * time.Hour, true}, {"3d", 72 * time.Hour, true}, {"90m", 90 * time.Minute, true},
		{"0d", 0, true}, {"-1h", 0, false}, {"1w", 0, false}, {"", 0, false}, {"d", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q): got %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func mustVersion(t testing.TB, s string) *semverVersion {
	t.Helper()
	v, err := rollout.ParseDeviceVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type semverVersion = semver.Version
