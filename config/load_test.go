package config

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/rollout"
)

func image(t testing.TB, chip espimage.Chip, project, version string) []byte {
	t.Helper()
	b, err := espimage.Build(espimage.BuildOptions{Chip: chip, ProjectName: project, Version: version, Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// validFiles is a small valid config; cases below change parts of it.
func validFiles(t testing.TB) fstest.MapFS {
	return fstest.MapFS{
		"platforms/lamp.toml": {Data: []byte(`chip = "esp8266"
description = "lamp"

[[release]]
version = "1.0.0"
file = "fw/lamp-1.0.0.bin"

[[release]]
version = "v1.1.0"
file = "fw/lamp-1.1.0.bin"
`)},
		"platforms/station.toml": {Data: []byte(`chip = "esp32"
[[release]]
version = "2.0.0"
file = "fw/station-2.0.0.bin"
`)},
		"devices/office.toml": {Data: []byte(`[[device]]
mac = "AA:BB:CC:DD:EE:01"
platform = "lamp"
name = "desk"

[[device]]
mac = "aa-bb-cc-dd-ee-02"
platform = "LAMP"
`)},
		"devices/site/garden.toml": {Data: []byte(`[[device]]
mac = "aabbccddee03"
platform = "station"
`)},
		"fw/lamp-1.0.0.bin":    {Data: image(t, espimage.ESP8266, "lamp", "1.0.0")},
		"fw/lamp-1.1.0.bin":    {Data: image(t, espimage.ESP8266, "lamp", "1.1.0")},
		"fw/station-2.0.0.bin": {Data: image(t, espimage.ESP32, "station", "2.0.0")},
		"README.md":            {Data: []byte("not config")},
	}
}

func TestLoadValid(t *testing.T) {
	fleet, probs := Load(validFiles(t), artifact.ReadInspector{})
	if len(probs) != 0 {
		t.Fatalf("problems: %v", probs)
	}
	if got, want := len(fleet.Platforms()), 2; got != want {
		t.Fatalf("platforms: got %d, want %d", got, want)
	}
	lamp := fleet.Platform("LAMP")
	if lamp == nil || lamp.Chip != "esp8266" || lamp.Description != "lamp" {
		t.Fatalf("lamp: got %+v", lamp)
	}
	if got, want := lamp.Releases[0].Version.String(), "1.1.0"; got != want {
		t.Errorf("newest lamp release: got %s, want %s", got, want)
	}
	a := lamp.Releases[0].Artifact
	if a.Source.Path != "fw/lamp-1.1.0.bin" || a.Size != 4096 || len(a.SHA256) != 64 || len(a.MD5) != 32 {
		t.Errorf("artifact: got %+v", a)
	}
	mac, _ := rollout.ParseMAC("AA:BB:CC:DD:EE:02")
	if d := fleet.Device(mac); d == nil || d.Platform != "lamp" {
		t.Errorf("device 02: got %+v, want on platform lamp", d)
	}
	mac, _ = rollout.ParseMAC("AA:BB:CC:DD:EE:03")
	if d := fleet.Device(mac); d == nil || d.Platform != "station" {
		t.Errorf("device 03 (in a subdirectory): got %+v", d)
	}
	if d := fleet.LookupDevice("DESK"); d == nil || d.MAC.String() != "AA:BB:CC:DD:EE:01" {
		t.Errorf("device named desk: got %+v", d)
	}
	if lamp.Anonymous {
		t.Errorf("lamp serves anonymous devices without saying so")
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name   string
		change func(fstest.MapFS)
		want   []string // every problem, as Problem.String
	}{
		{
			name: "unknown key in platform and in release",
			change: func(m fstest.MapFS) {
				m["platforms/station.toml"] = &fstest.MapFile{Data: []byte("chip = \"esp32\"\ncolour = \"red\"\n[[release]]\nversion = \"2.0.0\"\nfile = \"fw/station-2.0.0.bin\"\nnotes = \"beta\"\n")}
			},
			want: []string{
				`platforms/station.toml:2: colour: unknown key (allowed here: chip, description, paused, rollback, gzip, anonymous, github, release, signing, signing_key)`,
				`platforms/station.toml:6: release[0].notes: unknown key (allowed here: version, file, filesystem, github, tag, asset, sha256, channel, groups, stages, from, yanked, paused, halt_on_failure, halt_min_devices)`,
			},
		},
		{
			name: "bad semver and duplicate version",
			change: func(m fstest.MapFS) {
				m["platforms/station.toml"] = &fstest.MapFile{Data: []byte("chip = \"esp32\"\n[[release]]\nversion = \"2.0\"\nfile = \"fw/station-2.0.0.bin\"\n[[release]]\nversion = \"2.0.0\"\nfile = \"fw/station-2.0.0.bin\"\n[[release]]\nversion = \"v2.0.0\"\nfile = \"fw/station-2.0.0.bin\"\n")}
			},
			want: []string{
				`platforms/station.toml:3: release[0].version: "2.0" is not a semantic version (MAJOR.MINOR.PATCH, e.g. "1.2.3")`,
				`platforms/station.toml:9: release[2].version: version 2.0.0 is already released at line 6`,
			},
		},
		{
			name: "missing, empty and non-image binaries",
			change: func(m fstest.MapFS) {
				m["platforms/station.toml"] = &fstest.MapFile{Data: []byte("chip = \"esp32\"\n[[release]]\nversion = \"1.0.0\"\nfile = \"fw/nope.bin\"\n[[release]]\nversion = \"1.0.1\"\nfile = \"fw/empty.bin\"\n[[release]]\nversion = \"1.0.2\"\nfile = \"README.md\"\n[[release]]\nversion = \"1.0.3\"\nfile = \"../outside.bin\"\n")}
				m["fw/empty.bin"] = &fstest.MapFile{Data: nil}
			},
			want: []string{
				`platforms/station.toml:4: release[0].file: binary "fw/nope.bin" not found in the repository`,
				`platforms/station.toml:7: release[1].file: binary "fw/empty.bin" is empty`,
				`platforms/station.toml:10: release[2].file: binary "README.md": is not an ESP application image: first byte is 0x6E, want 0xE9`,
				`platforms/station.toml:13: release[3].file: "../outside.bin" is not a path inside the repository (use a relative path with '/', e.g. "firmware/lamp-1.0.0.bin")`,
			},
		},
		{
			name: "missing keys, wrong types, unknown chip",
			change: func(m fstest.MapFS) {
				m["platforms/station.toml"] = &fstest.MapFile{Data: []byte("chip = \"esp9000\"\ndescription = 5\n[[release]]\nfile = \"fw/station-2.0.0.bin\"\n")}
			},
			want: []string{
				`platforms/station.toml:1: chip: unknown chip "esp9000" (known: ` + knownChips() + `)`,
				`platforms/station.toml:2: description: must be a string, not an integer`,
				`platforms/station.toml:3: release[0].version: missing required key`,
			},
		},
		{
			name: "device errors across files",
			change: func(m fstest.MapFS) {
				m["devices/site/garden.toml"] = &fstest.MapFile{Data: []byte("[[device]]\nmac = \"AA:BB:CC:DD:EE:01\"\nplatform = \"station\"\n\n[[device]]\nmac = \"AA:BB:CC:DD:EE\"\nplatform = \"station\"\n\n[[device]]\nmac = \"AA:BB:CC:DD:EE:09\"\nplatform = \"toaster\"\nrole = \"x\"\n")}
			},
			want: []string{
				`devices/site/garden.toml:2: device[0].mac: device AA:BB:CC:DD:EE:01 is already listed at devices/office.toml:2`,
				`devices/site/garden.toml:6: device[1].mac: "AA:BB:CC:DD:EE" is not a MAC address (write it as AA:BB:CC:DD:EE:FF)`,
				`devices/site/garden.toml:11: device[2].platform: unknown platform "toaster" (no platforms/toaster.toml)`,
				`devices/site/garden.toml:12: device[2].role: unknown key (allowed here: mac, platform, name, channel, groups, pin)`,
			},
		},
		{
			name: "TOML syntax error",
			change: func(m fstest.MapFS) {
				m["devices/office.toml"] = &fstest.MapFile{Data: []byte("[[device]]\nmac = \"AA:BB:CC:DD:EE:01\"\nplatform = lamp\n")}
			},
			want: []string{
				`devices/office.toml:3: TOML syntax: expected value but found "lamp" instead`,
			},
		},
		{
			name: "bad platform file name",
			change: func(m fstest.MapFS) {
				m["platforms/Big_Lamp.toml"] = &fstest.MapFile{Data: []byte("chip = \"esp32\"\n")}
			},
			want: []string{
				`platforms/Big_Lamp.toml: platform name "Big_Lamp": use 1-64 lower-case letters, digits and '-', starting with a letter or digit`,
			},
		},
		{
			name:   "no platforms directory",
			change: func(m fstest.MapFS) { delete(m, "platforms/lamp.toml"); delete(m, "platforms/station.toml") },
			want: []string{
				`platforms/: missing: an otagit config repository has a platforms/ directory with one <platform>.toml per platform`,
				`devices/office.toml:3: device[0].platform: unknown platform "lamp" (no platforms/lamp.toml)`,
				`devices/office.toml:8: device[1].platform: unknown platform "LAMP" (no platforms/lamp.toml)`,
				`devices/site/garden.toml:3: device[0].platform: unknown platform "station" (no platforms/station.toml)`,
			},
		},
		{
			name: "no devices is a warning",
			change: func(m fstest.MapFS) {
				delete(m, "devices/office.toml")
				delete(m, "devices/site/garden.toml")
			},
			want: []string{
				`devices/: warning: missing: no device is whitelisted, so every device is refused (403)`,
			},
		},
		{
			name: "device names identify one device",
			change: func(m fstest.MapFS) {
				m["devices/site/garden.toml"] = &fstest.MapFile{Data: []byte(`[[device]]
mac = "aabbccddee03"
platform = "station"
name = "Desk"

[[device]]
mac = "aabbccddee04"
platform = "station"
name = "aa:bb:cc:dd:ee:01"

[[device]]
mac = "aabbccddee05"
platform = "station"
name = "AABBCCDDEE05"
`)}
			},
			want: []string{
				`devices/site/garden.toml:4: device[0].name: name "Desk" is already the name of device AA:BB:CC:DD:EE:01 at devices/office.toml:4: devices are looked up by name, so names must be unique`,
				`devices/site/garden.toml:9: device[1].name: name "aa:bb:cc:dd:ee:01" reads as the MAC AA:BB:CC:DD:EE:01, not this device's AA:BB:CC:DD:EE:04: devices are looked up by MAC or name, so use another name`,
			},
		},
		{
			name: "what esp32FOTA and anonymous devices cannot get",
			change: func(m fstest.MapFS) {
				m["platforms/station.toml"] = &fstest.MapFile{Data: []byte(`chip = "esp32"
anonymous = true
[[release]]
version = "2.0.0"
file = "fw/station-2.0.0.bin"
groups = ["lab"]

[[release]]
version = "2.1.0-rc.1"
file = "fw/station-2.0.0.bin"
`)}
				m["platforms/lamp.toml"] = &fstest.MapFile{Data: []byte(`chip = "esp8266"
anonymous = "yes"
[[release]]
version = "1.0.0-rc.1"
file = "fw/lamp-1.0.0.bin"
`)}
			},
			want: []string{
				`platforms/lamp.toml:2: anonymous: must be true or false, not a string`,
				`platforms/station.toml:6: warning: release[0].groups: platform station serves anonymous devices (anonymous = true), which are in no group: they never get 2.0.0`,
				`platforms/station.toml:9: warning: release[1].version: esp32FOTA reads a pre-release version (2.1.0-rc.1) as 0.0.0, so /fota/ manifests never offer it; devices on /update get it as usual`,
				`platforms/station.toml:10: warning: release[1].file: binary "fw/station-2.0.0.bin": descriptor says version 2.0.0; release is station 2.1.0-rc.1`,
			},
		},
		{
			name: "gzip image: esp8266 flashes it, esp32 only with esp32FOTA",
			change: func(m fstest.MapFS) {
				m["fw/lamp-1.0.0.bin"] = &fstest.MapFile{Data: gzipBytes(t, image(t, espimage.ESP8266, "lamp", "1.0.0"))}
				m["fw/station-2.0.0.bin"] = &fstest.MapFile{Data: gzipBytes(t, image(t, espimage.ESP32, "station", "2.0.0"))}
			},
			want: []string{
				`platforms/station.toml:4: warning: release[0].file: binary "fw/station-2.0.0.bin": is gzip-compressed: only esp32FOTA devices (with ESP32-targz support, from a URL holding "gz") can flash it; HTTPUpdate devices fail on it (its first byte is not 0xE9)`,
			},
		},
		{
			name: "a broken gzip file is refused",
			change: func(m fstest.MapFS) {
				m["fw/lamp-1.0.0.bin"] = &fstest.MapFile{Data: []byte{0x1F, 0x8B, 8, 0}}
			},
			want: []string{
				`platforms/lamp.toml:6: release[0].file: binary "fw/lamp-1.0.0.bin": is a damaged image: gzip stream: unexpected EOF`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := validFiles(t)
			tt.change(files)
			fleet, probs := Load(files, artifact.ReadInspector{})
			var got []string
			for _, p := range probs {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if hasErr := len(probs.Errors()) > 0; hasErr != (fleet == nil) {
				t.Errorf("fleet %v with %d errors", fleet != nil, len(probs.Errors()))
			}
		})
	}
}

func TestProblemsErr(t *testing.T) {
	ps := Problems{{File: "a.toml", Line: 3, Key: "k", Message: "bad"}, {File: "b.toml", Message: "meh", Warning: true}}
	err := ps.Err()
	if err == nil || !strings.Contains(err.Error(), "a.toml:3: k: bad") || strings.Contains(err.Error(), "meh") {
		t.Fatalf("got %v", err)
	}
	if Problems(ps.Warnings()).Err() != nil {
		t.Fatal("warnings alone must not be an error")
	}
}

func TestLoadAnonymous(t *testing.T) {
	files := validFiles(t)
	files["platforms/station.toml"] = &fstest.MapFile{Data: []byte("chip = \"esp32\"\nanonymous = true\n[[release]]\nversion = \"2.0.0\"\nfile = \"fw/station-2.0.0.bin\"\n")}
	fleet, probs := Load(files, artifact.ReadInspector{})
	if len(probs) != 0 {
		t.Fatalf("problems: %v", probs)
	}
	if !fleet.Platform("station").Anonymous || fleet.Platform("lamp").Anonymous {
		t.Errorf("anonymous: station %v, lamp %v; want true, false", fleet.Platform("station").Anonymous, fleet.Platform("lamp").Anonymous)
	}
}
