package config

import (
	"bytes"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/otagit/otagit/artifact"
)

// FuzzLoad feeds arbitrary platform and whitelist files to the loader: it
// must never panic, every problem must name a file, lines must exist in
// that file, and a fleet comes back exactly when there are no errors.
func FuzzLoad(f *testing.F) {
	valid := validFiles(f)
	f.Add(valid["platforms/lamp.toml"].Data, valid["devices/office.toml"].Data)
	f.Add([]byte("chip = \"esp32\"\n[[release]]\nversion = \"1.0\"\nfile = 5\n"), []byte("[[device]]\nmac = 1\n"))
	f.Add([]byte("chip = 'esp8266'\nrelease = [{version = \"1.0.0\", file = \"fw/lamp-1.0.0.bin\"}]\n"), []byte("device = []\n"))
	f.Add([]byte("[release]\nversion = \"1.0.0\"\n"), []byte("[[device]]\nmac = \"AA:BB:CC:DD:EE:01\"\nplatform = \"lamp\"\n[[device]]\nmac = \"aabbccddee01\"\n"))
	f.Add([]byte("\"\"\"\n"), []byte("a.b.c = 1\n[a]\n"))
	f.Fuzz(func(t *testing.T, platform, devices []byte) {
		files := validFiles(t)
		files["platforms/lamp.toml"] = &fstest.MapFile{Data: platform}
		files["devices/office.toml"] = &fstest.MapFile{Data: devices}
		fleet, probs := Load(files, artifact.ReadInspector{})
		if (fleet == nil) != (len(probs.Errors()) > 0) {
			t.Fatalf("fleet %v with errors %v", fleet != nil, probs.Errors())
		}
		for _, p := range probs {
			if p.File == "" || p.Message == "" {
				t.Fatalf("problem without file or message: %+v", p)
			}
			var src []byte
			switch {
			case p.File == "platforms/lamp.toml":
				src = platform
			case p.File == "devices/office.toml":
				src = devices
			case strings.HasSuffix(p.File, "/"):
				continue
			default:
				if f, ok := files[p.File]; ok {
					src = f.Data
				} else {
					t.Fatalf("problem in unknown file %q: %v", p.File, p)
				}
			}
			if n := bytes.Count(src, []byte("\n")) + 1; p.Line < 0 || p.Line > n {
				t.Fatalf("%v: line %d outside the file's %d lines", p, p.Line, n)
			}
		}
	})
}
