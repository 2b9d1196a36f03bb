package gitstore

import (
	"testing"
	"testing/fstest"

	"github.com/otagit/otagit/espimage"
)

func image(t testing.TB, chip espimage.Chip, project, version string) []byte {
	t.Helper()
	b, err := espimage.Build(espimage.BuildOptions{Chip: chip, ProjectName: project, Version: version, Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// validFiles is a small valid config (the same as package config's tests
// start from); tests change parts of it.
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
