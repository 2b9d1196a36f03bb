package repoedit

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/espimage"
	repotemplate "github.com/otagit/otagit/firmware-repo-template"
)

// starter writes the starter config (smart-lamp: esp8266, 1.0.0 and
// 1.1.0; weather-station: esp32, 2.0.0 and 2.1.0) to a new directory,
// with extra files (path -> content), and returns it.
func starter(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fleet")
	if err := repotemplate.Write(dir); err != nil {
		t.Fatal(err)
	}
	for name, content := range extra {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// image builds an image into a file outside the config and returns its
// name.
func image(t *testing.T, opts espimage.BuildOptions) string {
	t.Helper()
	opts.Size = 4096
	b, err := espimage.Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "build.bin")
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// tree returns the files under dir, slash-separated, sorted.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestAddRelease(t *testing.T) {
	dir := starter(t, nil)
	if _, err := git.PlainInit(dir, false); err != nil {
		t.Fatal(err)
	}
	img := image(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "weather-station", Version: "2.2.0"})
	res, err := AddRelease(dir, img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Platform.Name != "weather-station" || res.PlatformFrom != `the app descriptor's project name "weather-station"` ||
		res.Version.String() != "2.2.0" || res.VersionFrom != "the app descriptor" {
		t.Errorf("detected %s from %q, %s from %q", res.Platform.Name, res.PlatformFrom, res.Version, res.VersionFrom)
	}
	if res.Binary != "firmware/weather-station/weather-station-2.2.0.bin" || res.PlatformFile != "platforms/weather-station.toml" ||
		!res.Copied || res.Size != 4096 || !res.Added || !res.Staged || len(res.Warnings) != 0 {
		t.Errorf("result: %+v", res)
	}
	fleet, probs := config.Load(os.DirFS(dir), artifact.ReadInspector{})
	if fleet == nil || fleet.Platform("weather-station").Release(semver.MustParse("2.2.0")) == nil {
		t.Errorf("the release does not load: %v", probs)
	}
}

func TestAddReleaseGiven(t *testing.T) {
	dir := starter(t, nil)
	img := image(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "garage", Version: "0.1.0"})
	res, err := AddRelease(dir, img, Options{Platform: "Smart-Lamp", Version: semver.MustParse("1.3.0")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Platform.Name != "smart-lamp" || res.PlatformFrom != "" || res.Version.String() != "1.3.0" || res.VersionFrom != "" {
		t.Errorf("got %s from %q, %s from %q; want what was given", res.Platform.Name, res.PlatformFrom, res.Version, res.VersionFrom)
	}
	if res.Staged {
		t.Error("staged outside a Git repository")
	}
	// The binary names neither the platform nor the version given.
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].String(), `its first version string is "v0.1.0", not "v1.3.0"`) {
		t.Errorf("warnings: %v", res.Warnings)
	}
}

// TestAddReleaseUndone: a release that makes the config invalid is undone,
// directories made for it included, and the error carries the problems.
func TestAddReleaseUndone(t *testing.T) {
	dir := starter(t, map[string]string{"platforms/desk-lamp.toml": "chip = \"esp8266\"\nrelease = []"})
	before := tree(t, dir)
	img := image(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "desk-lamp", Version: "1.0.0"})
	res, err := AddRelease(dir, img, Options{})
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) == 0 || !strings.Contains(ce.Problems[0].String(), "platforms/desk-lamp.toml:4: TOML syntax") {
		t.Fatalf("got %v, want a ConfigError with the TOML error", err)
	}
	if res.Added {
		t.Error("Added after an undone change")
	}
	if got := tree(t, dir); !slices.Equal(got, before) {
		t.Errorf("files after undoing:\n%v\nwant:\n%v", got, before)
	}
}

func TestAddReleaseRefusals(t *testing.T) {
	lamp := espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.2.0"}
	tests := []struct {
		name  string
		extra map[string]string
		opts  espimage.BuildOptions
		given Options
		want  string
	}{
		{name: "broken config", extra: map[string]string{"platforms/desk-lamp.toml": "chip = \"esp9000\"\n"}, opts: lamp,
			want: "has errors (above); fix them before adding a release"},
		{name: "wrong chip", opts: espimage.BuildOptions{Chip: espimage.ESP32C3, ProjectName: "smart-lamp", Version: "1.2.0"},
			want: "build.bin is built for esp32c3, but platform smart-lamp is esp8266"},
		{name: "version there", opts: lamp, given: Options{Version: semver.MustParse("1.1.0")},
			want: "platform smart-lamp already has version 1.1.0 (binary firmware/smart-lamp/smart-lamp-1.1.0.bin)"},
		{name: "unknown platform", opts: lamp, given: Options{Platform: "Toaster"},
			want: `unknown platform "Toaster" (no platforms/toaster.toml; platforms: smart-lamp, weather-station)`},
		{name: "undetected", opts: espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "garage", Version: "1.0.0"},
			want: "cannot tell which platform build.bin is for: the binary contains no platform's name (smart-lamp, weather-station)"},
		{name: "other file in the way", extra: map[string]string{"firmware/smart-lamp/smart-lamp-1.2.0.bin": "x"}, opts: lamp,
			want: "firmware/smart-lamp/smart-lamp-1.2.0.bin already exists with other content; refusing to overwrite it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := starter(t, tt.extra)
			before := tree(t, dir)
			img := image(t, tt.opts)
			_, err := AddRelease(dir, img, tt.given)
			if err == nil || !strings.HasSuffix(strings.ReplaceAll(err.Error(), filepath.Dir(img)+string(filepath.Separator), ""), tt.want) {
				t.Errorf("got %v, want an error ending %q", err, tt.want)
			}
			if got := tree(t, dir); !slices.Equal(got, before) {
				t.Errorf("files changed:\n%v\nwant:\n%v", got, before)
			}
		})
	}
}
