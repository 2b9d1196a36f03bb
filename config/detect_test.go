package config

import (
	"errors"
	"testing"
	"testing/fstest"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/espimage"
)

// detectFleet has platforms whose names nest ("lamp" in "smart-lamp" and
// "desk-lamp") and two chips.
var detectFleet = fstest.MapFS{
	"platforms/lamp.toml":       {Data: []byte("chip = \"esp8266\"\n")},
	"platforms/smart-lamp.toml": {Data: []byte("chip = \"esp8266\"\n")},
	"platforms/desk-lamp.toml":  {Data: []byte("chip = \"esp32c3\"\n")},
	"platforms/station.toml":    {Data: []byte("chip = \"esp32\"\n")},
	"platforms/garage.toml":     {Data: []byte("chip = \"esp8266\"\n")},
	"devices/all.toml":          {Data: []byte("[[device]]\nmac = \"18:FE:34:00:00:01\"\nplatform = \"lamp\"\n")},
}

func TestDetect(t *testing.T) {
	fleet, probs := Load(detectFleet, artifact.ReadInspector{})
	if fleet == nil {
		t.Fatal(probs)
	}
	tests := []struct {
		name                 string
		opts                 espimage.BuildOptions
		patch                string // written into the image's body, if set
		platform, platformOf string
		version, versionOf   string
		undetected           string // "platform" or "version": the error expected
	}{
		{name: "descriptor names the platform",
			opts:     espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "station", Version: "2.0.0"},
			platform: "station", platformOf: `the app descriptor's project name "station"`,
			version: "2.0.0", versionOf: "the app descriptor"},
		{name: "descriptor contains the platform, case aside",
			opts:     espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "Station-FW", Version: "v2.1.0"},
			platform: "station", platformOf: `the app descriptor's project name "Station-FW"`,
			version: "2.1.0", versionOf: "the app descriptor"},
		{name: "a name inside another counts as the longer one",
			opts:     espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.2.0"},
			platform: "smart-lamp", platformOf: "its name in the binary",
			version: "1.2.0", versionOf: `"v1.2.0" in the binary`},
		{name: "platforms of another chip drop out",
			opts:     espimage.BuildOptions{Chip: espimage.ESP32C3, ProjectName: "smart-lamp desk-lamp", Version: "0.3.0"},
			platform: "desk-lamp", platformOf: `the app descriptor's project name "smart-lamp desk-lamp"`,
			version: "0.3.0", versionOf: "the app descriptor"},
		{name: "several of the same chip",
			opts:       espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp garage", Version: "1.0.0"},
			undetected: "platform"},
		{name: "no platform's name",
			opts:       espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "attic", Version: "1.0.0"},
			undetected: "platform"},
		{name: "descriptor version not semver: the binary's",
			opts:     espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "station", Version: "nightly"},
			patch:    "v2.3.0",
			platform: "station", platformOf: `the app descriptor's project name "station"`,
			version: "2.3.0", versionOf: `"v2.3.0" in the binary`},
		{name: "no version",
			opts:     espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "lamp"},
			platform: "lamp", platformOf: "its name in the binary",
			undetected: "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := build(t, tt.opts)
			if tt.patch != "" {
				data = patch(data, len(data)-512, tt.patch)
			}
			info, err := espimage.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			img := &espimage.Image{Name: "fw.bin", Data: data, Content: data, Info: info}
			var ue *UndetectedError
			p, from, err := DetectPlatform(fleet, img)
			if tt.undetected == "platform" {
				if !errors.As(err, &ue) || ue.What != "platform" {
					t.Fatalf("DetectPlatform: got %v, want an UndetectedError for the platform", err)
				}
				return
			}
			if err != nil || p.Name != tt.platform || from != tt.platformOf {
				t.Fatalf("DetectPlatform: got %v from %q (err %v), want %s from %q", p, from, err, tt.platform, tt.platformOf)
			}
			v, from, err := DetectVersion(img, p.Name)
			if tt.undetected == "version" {
				if !errors.As(err, &ue) || ue.What != "version" {
					t.Fatalf("DetectVersion: got %v, want an UndetectedError for the version", err)
				}
				return
			}
			if err != nil || v.String() != tt.version || from != tt.versionOf {
				t.Fatalf("DetectVersion: got %v from %q (err %v), want %s from %q", v, from, err, tt.version, tt.versionOf)
			}

			// What was detected is what the loader confirms: the release
			// loads without a warning.
			fsys := fstest.MapFS{"fw.bin": {Data: data}}
			for name, f := range detectFleet {
				fsys[name] = f
			}
			fsys["platforms/"+p.Name+".toml"] = &fstest.MapFile{Data: []byte(
				"chip = \"" + p.Chip + "\"\n[[release]]\nversion = \"" + v.String() + "\"\nfile = \"fw.bin\"\n")}
			f2, probs := Load(fsys, artifact.ReadInspector{})
			if f2 == nil || len(probs) != 0 {
				t.Errorf("the loader does not confirm %s %s: %v", p.Name, v, probs)
			}
		})
	}
}
