package importer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/espimage"
	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/repoedit"
	"github.com/otagit/otagit/worktree"
)

func image(t testing.TB, chip espimage.Chip, project, version string) []byte {
	t.Helper()
	img, err := espimage.Build(espimage.BuildOptions{Chip: chip, ProjectName: project, Version: version})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshot returns every file under dir with its content.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func loads(t testing.TB, dir string) {
	t.Helper()
	tree, err := worktree.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fleet, probs := config.Load(tree, artifact.ReadInspector{}); fleet == nil {
		t.Fatalf("%s does not load: %v", dir, probs.Errors())
	}
}

// An import into an existing config repository appends to its files and
// leaves every byte that was there; a device listed already for another
// platform is reported, not moved.
func TestImportExtendsExistingRepo(t *testing.T) {
	dir := t.TempDir()
	if err := repotemplate.Write(dir); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	src := t.TempDir()
	lamp := mustRead(t, filepath.Join(dir, "firmware/smart-lamp/smart-lamp-1.1.0.bin"))
	write(t, filepath.Join(src, "smart-lamp-1.1.0.bin"), lamp) // the template has it: kept
	write(t, filepath.Join(src, "smart-lamp-1.3.0.bin"), image(t, espimage.ESP8266, "smart-lamp", "1.3.0"))
	write(t, filepath.Join(src, "smart-lamp-1.0.0.bin"), image(t, espimage.ESP8266, "smart-lamp", "1.0.0")) // another 1.0.0
	write(t, filepath.Join(src, "smart-lamp-9.0.0.bin"), image(t, espimage.ESP32, "smart-lamp", "9.0.0"))
	rep, err := Import("dir", src, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, dir)
	for f, old := range before {
		if !strings.HasPrefix(after[f], old) {
			t.Errorf("%s: what it held is not kept byte for byte", f)
		}
	}
	if got := strings.Join(rep.Added, "\n"); !strings.Contains(got, "release smart-lamp 1.3.0") || strings.Count(got, "\n") != 0 {
		t.Errorf("added:\n%s", got)
	}
	skipped := strings.Join(rep.Skipped, "\n")
	for _, want := range []string{
		"smart-lamp-1.0.0.bin: platform smart-lamp has version 1.0.0 already, with another binary",
		"smart-lamp-9.0.0.bin: built for esp32, but platform smart-lamp is esp8266",
	} {
		if !strings.Contains(skipped, want) {
			t.Errorf("skipped lacks %q:\n%s", want, skipped)
		}
	}
	if rep.Present != 1 {
		t.Errorf("present: %d, want 1 (smart-lamp 1.1.0)", rep.Present)
	}
	loads(t, dir)
}

func mustRead(t testing.TB, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A failure part way leaves the work tree as it was.
func TestImportUndoesOnFailure(t *testing.T) {
	dir := t.TempDir()
	src := t.TempDir()
	write(t, filepath.Join(src, "lamp-1.0.0.bin"), image(t, espimage.ESP8266, "lamp", "1.0.0"))
	write(t, filepath.Join(src, "plug-1.0.0.bin"), image(t, espimage.ESP8266, "plug", "1.0.0"))
	// Where plug 1.0.0's binary would go, another file is in the way.
	write(t, filepath.Join(dir, "firmware/plug/plug-1.0.0.bin"), []byte("something else"))
	before := snapshot(t, dir)
	_, err := Import("dir", src, dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("err = %v, want a refusal to overwrite", err)
	}
	if after := snapshot(t, dir); len(after) != len(before) || after["firmware/plug/plug-1.0.0.bin"] != "something else" {
		t.Errorf("after the failed import: %v", after)
	}
	if _, err := os.Stat(filepath.Join(dir, "platforms")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("platforms/ is left behind: %v", err)
	}
}

// A config that does not load is not imported into.
func TestImportRefusesBrokenConfig(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "platforms/lamp.toml"), []byte("chip = \"esp9999\"\n"))
	src := t.TempDir()
	write(t, filepath.Join(src, "lamp-1.0.0.bin"), image(t, espimage.ESP8266, "lamp", "1.0.0"))
	_, err := Import("dir", src, dir, Options{})
	var cerr *repoedit.ConfigError
	if !errors.As(err, &cerr) || len(cerr.Problems) == 0 {
		t.Fatalf("err = %v, want a ConfigError with the problems", err)
	}
}

func TestParseBinaryName(t *testing.T) {
	for _, tt := range []struct{ name, platform, version string }{
		{"smart-lamp-1.2.0.bin", "smart-lamp", "1.2.0"},
		{"lamp-v2.0.0-rc.1.bin", "lamp", "2.0.0-rc.1"},
		{"esp-01-1.0.0.bin", "esp-01", "1.0.0"},
		{"lamp.bin", "", ""},
		{"Lamp-1.0.0.bin", "", ""},
		{"lamp-latest.bin", "", ""},
		{"lamp-1.0.0.txt", "", ""},
	} {
		p, v, ok := ParseBinaryName(tt.name)
		if tt.platform == "" {
			if ok {
				t.Errorf("%s: read as %s %s", tt.name, p, v)
			}
			continue
		}
		if !ok || p != tt.platform || v.String() != tt.version {
			t.Errorf("%s: %q %v %v, want %s %s", tt.name, p, v, ok, tt.platform, tt.version)
		}
	}
}

func TestParseVersionFile(t *testing.T) {
	for in, want := range map[string]string{"1.0.0\n": "1.0.0", " v1.2.3\r\n": "1.2.3", "1244": "1244.0.0", "": "", "1.0 2.0": "", "latest": ""} {
		v, err := ParseVersionFile([]byte(in))
		switch {
		case want == "" && err == nil:
			t.Errorf("%q: read as %s", in, v)
		case want != "" && (err != nil || v.String() != want):
			t.Errorf("%q: %v %v, want %s", in, v, err, want)
		}
	}
}

func TestParseFlaskPlatforms(t *testing.T) {
	ps, err := parseFlaskPlatforms([]byte("Lamp:\n  version: 1.2.0\n  file: lamp_1_2_0.bin\n  whitelist:\n  - 001122334455\n  - 18fe34a10001\n  - null\nempty: null\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Name != "lamp" || ps[0].Version != "1.2.0" || ps[0].File != "lamp_1_2_0.bin" ||
		strings.Join(ps[0].Whitelist, ",") != "001122334455,18fe34a10001" || ps[1].Name != "empty" {
		t.Errorf("got %+v", ps)
	}
	if _, err := parseFlaskPlatforms([]byte("lamp: [1, 2]\n")); err == nil {
		t.Error("a platform that is a list: no error")
	}
}

func FuzzParseFlaskPlatforms(f *testing.F) {
	f.Add([]byte("smart-lamp:\n  downloads: 3\n  file: smart-lamp_1_2_0.bin\n  uploaded: '2019-05-01'\n  version: 1.2.0\n  whitelist:\n  - 18fe34a10001\n"))
	f.Add([]byte("a: &x {whitelist: [*x]}\n"))
	f.Add([]byte("lamp: null\n"))
	f.Add([]byte("- 1\n- 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := parseFlaskPlatforms(data)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.Name != strings.ToLower(p.Name) {
				t.Fatalf("name %q not lower-cased", p.Name)
			}
		}
	})
}

func FuzzParseVersionFile(f *testing.F) {
	for _, s := range []string{"1.0.0\n", "v2.1.0-rc.1", "1244", "", "\xff", strings.Repeat("9", 300)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseVersionFile(data)
		if err == nil && v == nil {
			t.Fatal("no version and no error")
		}
	})
}

func FuzzParseBinaryName(f *testing.F) {
	for _, s := range []string{"smart-lamp-1.2.0.bin", "lamp-v2.0.0-rc.1.bin", "a--1.bin", "-1.0.0.bin", ".bin"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, v, ok := ParseBinaryName(name)
		if ok && (!config.ValidPlatformName(p) || v == nil || !strings.HasPrefix(name, p+"-")) {
			t.Fatalf("%q: read as %q %v", name, p, v)
		}
	})
}
