package repotemplate

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
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
	fleet, probs := config.Load(FS(), artifact.ReadInspector{})
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
	fleet, probs := config.Load(os.DirFS(dir), artifact.ReadInspector{})
	if fleet == nil || len(probs) != 0 {
		t.Fatalf("written template: %v", probs)
	}
	if err := Write(dir); err == nil {
		t.Error("second Write into a non-empty directory: no error")
	}
}

// TestWorkflow checks that the starter repository carries the GitHub
// Actions workflow (embed skips dot-directories unless named) and that
// Write, and so `otagit init`, writes it.
func TestWorkflow(t *testing.T) {
	const name = ".github/workflows/otagit.yml"
	b, err := fs.ReadFile(FS(), name)
	if err != nil {
		t.Fatalf("%s not embedded: %v", name, err)
	}
	for _, want := range []string{
		"pull_request:",
		"fetch-depth: 0",
		`go install "github.com/otagit/otagit/cmd/otagit@${OTAGIT_VERSION}"`,
		"otagit validate .",
		`otagit plan --base "$BASE" --head "$HEAD" . >> "$GITHUB_STEP_SUMMARY"`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s lacks %q", name, want)
		}
	}
	dir := t.TempDir()
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil || !bytes.Equal(got, b) {
		t.Errorf("Write did not write %s (err %v)", name, err)
	}
}
