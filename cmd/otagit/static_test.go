package main

import (
	"debug/buildinfo"
	"debug/elf"
	"os"
	"testing"
)

// TestReleaseBinaryIsStatic checks the release build .ci/run makes
// (CGO_ENABLED=0 go build -trimpath) at $OTAGIT_RELEASE_BINARY: built
// without cgo, with no ELF interpreter and no shared libraries, so it runs
// in a scratch or distroless image and on any Linux. Skipped when the
// variable is unset (go test alone does not build the release binary).
func TestReleaseBinaryIsStatic(t *testing.T) {
	path := os.Getenv("OTAGIT_RELEASE_BINARY")
	if path == "" {
		t.Skip("OTAGIT_RELEASE_BINARY not set; .ci/run sets it")
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings CGO_ENABLED=%q -trimpath=%q, want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
	}
	if bi.Main.Path != "github.com/otagit/otagit" || bi.Path != "github.com/otagit/otagit/cmd/otagit" {
		t.Errorf("binary of %s (module %s), want cmd/otagit", bi.Path, bi.Main.Path)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter (PT_INTERP): it is dynamically linked")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
}
