package plan_test

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/plan"
)

var update = flag.Bool("update", false, "rewrite the golden plans in testdata/plan (and the fixtures' firmware images)")

// goldenDir holds one directory per case: base/ and head/ are config
// repositories as plain directories, versions.txt (optional) is what
// `otagit plan --versions` reads, and plan.md and plan.json are the plans
// they give at goldenNow.
const goldenDir = "../testdata/plan"

// goldenNow is the time the golden plans are made for. The fixtures are
// outside Git, so every release counts as introduced at this time.
var goldenNow = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

// goldenImages are the firmware images the fixtures use, small ones made
// with espimage.Build so that the loader's image checks pass. -update
// writes each into every fixture side whose platform file names it.
var goldenImages = map[string]espimage.BuildOptions{
	"firmware/smart-lamp/smart-lamp-1.0.0.bin":           {Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.0.0", Size: 1024},
	"firmware/smart-lamp/smart-lamp-1.1.0.bin":           {Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.1.0", Size: 1024},
	"firmware/smart-lamp/smart-lamp-1.2.0.bin":           {Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.2.0", Size: 1024},
	"firmware/weather-station/weather-station-2.0.0.bin": {Chip: espimage.ESP32, ProjectName: "weather-station", Version: "2.0.0", Size: 1024},
	"firmware/weather-station/weather-station-2.1.0.bin": {Chip: espimage.ESP32, ProjectName: "weather-station", Version: "2.1.0", Size: 1024},
}

// TestGoldenPlans plans each fixture change and compares the Markdown and
// JSON with the goldens; `go test ./plan -update` rewrites them.
func TestGoldenPlans(t *testing.T) {
	cases, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cases {
		if !c.IsDir() {
			continue
		}
		n++
		dir := filepath.Join(goldenDir, c.Name())
		t.Run(c.Name(), func(t *testing.T) {
			if *update {
				writeImages(t, filepath.Join(dir, "base"))
				writeImages(t, filepath.Join(dir, "head"))
			}
			res := goldenPlan(t, dir)
			var md, js bytes.Buffer
			if err := plan.WriteMarkdown(&md, res.Header, &res.Plan); err != nil {
				t.Fatal(err)
			}
			if err := plan.WriteJSON(&js, res.Header, &res.Plan); err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join(dir, "plan.md"), md.Bytes())
			compareGolden(t, filepath.Join(dir, "plan.json"), js.Bytes())
		})
	}
	if n == 0 {
		t.Fatalf("no cases in %s", goldenDir)
	}
}

// goldenPlan loads a fixture's two sides and plans the change, as `otagit
// plan --versions` does for two commits.
func goldenPlan(t *testing.T, dir string) *plan.Result {
	t.Helper()
	load := func(side string) (*gitstore.Snapshot, config.Problems) {
		fleet, probs := config.Load(os.DirFS(filepath.Join(dir, side)), artifact.ReadInspector{})
		if len(probs.Errors()) > 0 {
			t.Fatalf("%s/%s does not load: %v", dir, side, probs)
		}
		return &gitstore.Snapshot{Commit: side, Fleet: fleet}, probs
	}
	base, _ := load("base")
	head, headProbs := load("head")
	in := plan.Input{Now: goldenNow}
	if f, err := os.Open(filepath.Join(dir, "versions.txt")); err == nil {
		defer f.Close()
		v, err := plan.ReadVersions("versions.txt", f)
		if err != nil {
			t.Fatal(err)
		}
		in.Reported = v.Reported
	} else if !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return plan.FromSnapshots(base, head, headProbs, in)
}

// writeImages writes the goldenImages that side's platform files name.
func writeImages(t *testing.T, side string) {
	t.Helper()
	var platforms strings.Builder
	err := fs.WalkDir(os.DirFS(side), "platforms", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join(side, p))
		platforms.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range goldenImages {
		if !strings.Contains(platforms.String(), `"`+name+`"`) {
			continue
		}
		img, err := espimage.Build(opts)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(side, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func compareGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./plan -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the plan made now (go test ./plan -update rewrites it):\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

// TestReadmeShowsGoldenPlan keeps the README's example plan the one the
// code makes: it is testdata/plan/staged-release/plan.md.
func TestReadmeShowsGoldenPlan(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(filepath.Join(goldenDir, "staged-release", "plan.md"))
	if err != nil {
		t.Fatal(err)
	}
	example := strings.TrimRight(strings.TrimPrefix(string(golden), plan.Marker+"\n"), "\n")
	if !strings.Contains(string(readme), "```markdown\n"+example+"\n```\n") {
		t.Errorf("README.md does not show %s/staged-release/plan.md as its example plan: copy it in", goldenDir)
	}
}
