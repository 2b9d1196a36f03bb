package repotemplate

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/otagit/otagit/gitstore"
)

// TestBinariesUpToDate fails when the committed binaries differ from what
// gen.go makes: run `go generate ./firmware-repo-template` then.
func TestBinariesUpToDate(t *testing.T) {
	for _, b := range Binaries {
		want, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		got, err := fs.ReadFile(FS(), b.Path)
		if err != nil {
			t.Fatalf("%s: %v (run go generate)", b.Path, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its generator (run go generate)", b.Path)
		}
	}
}

func TestTemplateIsValid(t *testing.T) {
	fleet, probs := gitstore.Load(FS(), gitstore.ReadInspector{})
	if len(probs) != 0 || fleet == nil {
		t.Fatalf("the starter config has problems: %v", probs)
	}
	if got := len(fleet.Platforms()); got != 2 {
		t.Errorf("platforms: got %d, want 2", got)
	}
}

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	fleet, probs := gitstore.Load(os.DirFS(dir), gitstore.ReadInspector{})
	if fleet == nil || len(probs) != 0 {
		t.Fatalf("written template: %v", probs)
	}
	if err := Write(dir); err == nil {
		t.Error("second Write into a non-empty directory: no error")
	}
}
