package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"

	"github.com/otagit/otagit/espimage"
)

// fleetRepo writes the starter repository (smart-lamp: esp8266, 1.0.0 and
// 1.1.0; weather-station: esp32, 2.0.0 and 2.1.0) to a new Git repository
// and commits it, so that a test can see exactly what `otagit add` staged.
// extra files (path -> content) are added before the commit.
func fleetRepo(t *testing.T, extra map[string]string) (string, *git.Repository) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fleet")
	if code, out, errs := runCLI(t, "init", dir); code != 0 {
		t.Fatalf("init: exit %d: %s%s", code, out, errs)
	}
	for name, content := range extra {
		writeFile(t, filepath.Join(dir, name), []byte(content))
	}
	if err := commitAll(dir, "config"); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, repo
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// binFile builds an image into a file outside the repository.
func binFile(t *testing.T, opts espimage.BuildOptions) string {
	t.Helper()
	if opts.Size == 0 {
		opts.Size = 8192
	}
	img, err := espimage.Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "build.bin")
	writeFile(t, name, img)
	return name
}

// status returns the Git status of the repository as "XY path" lines.
func status(t *testing.T, repo *git.Repository) string {
	t.Helper()
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	st, err := wt.Status()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for path, s := range st {
		lines = append(lines, string(s.Staging)+string(s.Worktree)+" "+path)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func TestAdd(t *testing.T) {
	tests := []struct {
		name       string
		opts       espimage.BuildOptions
		flags      []string
		platform   string
		version    string
		wantOut    []string
		wantBinary string
	}{
		{
			name:     "esp32 with descriptor",
			opts:     espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "weather-station", Version: "2.2.0"},
			platform: "weather-station", version: "2.2.0",
			wantOut: []string{
				`platform weather-station (esp32), from the app descriptor's project name "weather-station"`,
				`version  2.2.0, from the app descriptor`,
				`wrote    firmware/weather-station/weather-station-2.2.0.bin (8192 bytes)`,
				`appended [[release]] to platforms/weather-station.toml`,
			},
		},
		{
			name:     "descriptor project name contains the platform",
			opts:     espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "Weather-Station-FW", Version: "v3.0.0"},
			platform: "weather-station", version: "3.0.0",
			wantOut: []string{
				`platform weather-station (esp32), from the app descriptor's project name "Weather-Station-FW"`,
				`version  3.0.0, from the app descriptor`,
			},
		},
		{
			name:     "esp8266 seed convention",
			opts:     espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "SMART-LAMP", Version: "1.2.0"},
			platform: "smart-lamp", version: "1.2.0",
			wantOut: []string{
				`platform smart-lamp (esp8266), from its name in the binary`,
				`version  1.2.0, from "v1.2.0" in the binary`,
			},
		},
		{
			name:     "flags override",
			opts:     espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "garage", Version: "0.1.0"},
			flags:    []string{"--platform", "Smart-Lamp", "--version", "v1.3.0"},
			platform: "smart-lamp", version: "1.3.0",
			wantOut: []string{
				`platform smart-lamp (esp8266), from --platform`,
				`version  1.3.0, from --version`,
				// The loader's warning about the new release is shown.
				`platforms/smart-lamp.toml:19: warning: release[2].file: binary "firmware/smart-lamp/smart-lamp-1.3.0.bin": ` +
					`no app descriptor, and the binary does not contain "smart-lamp", and its first version string is "v0.1.0", not "v1.3.0"`,
			},
		},
		{
			name:     "flag overrides the descriptor version",
			opts:     espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "weather-station", Version: "2.2.0"},
			flags:    []string{"--version", "2.2.1"},
			platform: "weather-station", version: "2.2.1",
			wantOut: []string{
				`version  2.2.1, from --version`,
				`warning: release[2].file: binary "firmware/weather-station/weather-station-2.2.1.bin": descriptor says version 2.2.0; release is weather-station 2.2.1`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, repo := fleetRepo(t, nil)
			bin := binFile(t, tt.opts)
			tomlPath := filepath.Join(dir, "platforms", tt.platform+".toml")
			oldTOML := readFile(t, tomlPath)

			// Flags after FILE, as in the usage line.
			args := append(append([]string{"add", bin}, tt.flags...), dir)
			code, out, errs := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("exit %d:\n%s%s", code, out, errs)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			rel := "firmware/" + tt.platform + "/" + tt.platform + "-" + tt.version + ".bin"
			want := `  cd ` + dir + ` && git commit -m "` + tt.platform + ` ` + tt.version + `"`
			if !strings.Contains(out, "Both files are staged. Next:\n"+want+"\n  git push") {
				t.Errorf("output lacks the next steps %q:\n%s", want, out)
			}

			if got, want := readFile(t, filepath.Join(dir, filepath.FromSlash(rel))), readFile(t, bin); got != want {
				t.Errorf("%s is not a copy of the binary", rel)
			}
			wantTOML := oldTOML + "\n[[release]]\nversion = \"" + tt.version + "\"\nfile = \"" + rel + "\"\n"
			if got := readFile(t, tomlPath); got != wantTOML {
				t.Errorf("platform file:\ngot:\n%s\nwant:\n%s", got, wantTOML)
			}
			if got, want := status(t, repo), "A  "+rel+"\nM  platforms/"+tt.platform+".toml"; got != want {
				t.Errorf("git status:\ngot:\n%s\nwant:\n%s", got, want)
			}
			if code, out, _ := runCLI(t, "validate", dir); code != 0 || !strings.Contains(out, "ok: 2 platforms, 5 releases") {
				t.Errorf("validate after add: exit %d:\n%s", code, out)
			}
		})
	}
}

func TestAddRefusals(t *testing.T) {
	lamp := espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.2.0"}
	tests := []struct {
		name  string
		extra map[string]string // more files in the repository
		file  func(t *testing.T, dir string) string
		flags []string
		want  string // on stderr, after "otagit add: "
	}{
		{
			name: "not an image",
			file: func(t *testing.T, dir string) string { return filepath.Join(dir, "README.md") },
			want: `README.md is not an ESP application image: first byte 0x23: espimage: not a firmware image (bad magic)`,
		},
		{
			name: "truncated header",
			file: func(t *testing.T, _ string) string {
				name := filepath.Join(t.TempDir(), "short.bin")
				writeFile(t, name, []byte{0xE9, 2, 2, 0x20})
				return name
			},
			want: `short.bin is not an ESP application image: got 4 bytes, header needs 24: espimage: image too short`,
		},
		{
			name: "wrong chip",
			file: func(t *testing.T, _ string) string {
				return binFile(t, espimage.BuildOptions{Chip: espimage.ESP32C3, ProjectName: "smart-lamp", Version: "1.2.0"})
			},
			want: `build.bin is built for esp32c3, but platform smart-lamp is esp8266`,
		},
		{
			name:  "wrong chip for the flag's platform",
			file:  func(t *testing.T, _ string) string { return binFile(t, lamp) },
			flags: []string{"--platform", "weather-station"},
			want:  `build.bin is built for esp8266, but platform weather-station is esp32`,
		},
		{
			name: "existing version",
			file: func(t *testing.T, _ string) string {
				return binFile(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.1.0"})
			},
			want: `platform smart-lamp already has version 1.1.0 (binary firmware/smart-lamp/smart-lamp-1.1.0.bin)`,
		},
		{
			name:  "existing version given with v",
			file:  func(t *testing.T, _ string) string { return binFile(t, lamp) },
			flags: []string{"--version", "v1.0.0"},
			want:  `platform smart-lamp already has version 1.0.0 (binary firmware/smart-lamp/smart-lamp-1.0.0.bin)`,
		},
		{
			name:  "unknown platform",
			file:  func(t *testing.T, _ string) string { return binFile(t, lamp) },
			flags: []string{"--platform", "toaster"},
			want:  `unknown platform "toaster" (no platforms/toaster.toml; platforms: smart-lamp, weather-station)`,
		},
		{
			name: "no platform named",
			file: func(t *testing.T, _ string) string {
				return binFile(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "garage", Version: "1.0.0"})
			},
			want: `cannot tell which platform build.bin is for: the binary contains no platform's name (smart-lamp, weather-station); use --platform`,
		},
		{
			name: "descriptor names no platform",
			file: func(t *testing.T, _ string) string {
				return binFile(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "arduino-lib-builder", Version: "esp-idf: v5.1.4 d7b0a45ddb"})
			},
			want: `cannot tell which platform build.bin is for: the app descriptor's project name "arduino-lib-builder" is no platform's, and the binary contains no platform's name (smart-lamp, weather-station); use --platform`,
		},
		{
			name:  "ambiguous",
			extra: map[string]string{"platforms/desk-lamp.toml": "chip = \"esp8266\"\n"},
			file: func(t *testing.T, _ string) string {
				return binFile(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "desk-lamp smart-lamp", Version: "1.2.0"})
			},
			want: `cannot tell which platform build.bin is for: the binary contains the names desk-lamp and smart-lamp; use --platform`,
		},
		{
			name: "no version",
			file: func(t *testing.T, _ string) string {
				return binFile(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp"})
			},
			want: `cannot tell the version of build.bin: it has no app descriptor and it contains no "v1.2.3"; use --version`,
		},
		{
			name: "descriptor version not semver",
			file: func(t *testing.T, _ string) string {
				return binFile(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "weather-station", Version: "nightly"})
			},
			want: `cannot tell the version of build.bin: its app descriptor's version "nightly" is not a semantic version and it contains no "v1.2.3"; use --version`,
		},
		{
			name:  "bad version flag",
			file:  func(t *testing.T, _ string) string { return binFile(t, lamp) },
			flags: []string{"--version", "1.2"},
			want:  `--version "1.2" is not a semantic version (MAJOR.MINOR.PATCH, e.g. "1.2.3")`,
		},
		{
			name:  "different file at the conventional path",
			extra: map[string]string{"firmware/smart-lamp/smart-lamp-1.2.0.bin": "something else"},
			file:  func(t *testing.T, _ string) string { return binFile(t, lamp) },
			want:  `firmware/smart-lamp/smart-lamp-1.2.0.bin already exists with other content; refusing to overwrite it`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, repo := fleetRepo(t, tt.extra)
			file := tt.file(t, dir)
			args := append(append([]string{"add"}, tt.flags...), file, dir)
			code, out, errs := runCLI(t, args...)
			if code != 1 {
				t.Errorf("exit %d, want 1:\n%s%s", code, out, errs)
			}
			// Messages name the file as given; compare them by base name.
			got := strings.ReplaceAll(errs, filepath.Dir(file)+string(filepath.Separator), "")
			if want := "otagit add: " + tt.want + "\n"; got != want {
				t.Errorf("stderr:\ngot:  %s\nwant: %s", got, want)
			}
			if st := status(t, repo); st != "" {
				t.Errorf("the repository changed:\n%s", st)
			}
		})
	}
}

// TestAddRollback makes the appended [[release]] invalid TOML: the
// platform file defines release as an inline array already. The loader
// finds it, and both changes are undone.
func TestAddRollback(t *testing.T) {
	const deskLamp = "chip = \"esp8266\"\nrelease = []"
	dir, repo := fleetRepo(t, map[string]string{"platforms/desk-lamp.toml": deskLamp})
	bin := binFile(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "desk-lamp", Version: "1.0.0"})
	code, out, errs := runCLI(t, "add", bin, dir)
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		"platforms/desk-lamp.toml:4: TOML syntax: ",
		"otagit add: adding desk-lamp 1.0.0 would make the config invalid (above); nothing was changed\n",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if got := readFile(t, filepath.Join(dir, "platforms", "desk-lamp.toml")); got != deskLamp {
		t.Errorf("platform file not restored:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "firmware", "desk-lamp")); !os.IsNotExist(err) {
		t.Errorf("firmware/desk-lamp is still there (err %v)", err)
	}
	if st := status(t, repo); st != "" {
		t.Errorf("the repository changed:\n%s", st)
	}
}

func TestAddPreservesText(t *testing.T) {
	tests := []struct{ name, old, want string }{
		{"no trailing newline", "chip = \"esp8266\"", "chip = \"esp8266\"\n\n[[release]]\n"},
		{"blank line already", "chip = \"esp8266\"\n\n", "chip = \"esp8266\"\n\n[[release]]\n"},
		{"CRLF", "# desk\r\nchip = \"esp8266\"\r\n", "# desk\r\nchip = \"esp8266\"\r\n\r\n[[release]]\r\nversion = \"1.0.0\"\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := fleetRepo(t, map[string]string{"platforms/desk-lamp.toml": tt.old})
			bin := binFile(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "desk-lamp", Version: "1.0.0"})
			if code, out, errs := runCLI(t, "add", bin, dir); code != 0 {
				t.Fatalf("exit %d:\n%s%s", code, out, errs)
			}
			if got := readFile(t, filepath.Join(dir, "platforms", "desk-lamp.toml")); !strings.HasPrefix(got, tt.want) {
				t.Errorf("platform file:\ngot:  %q\nwant: %q...", got, tt.want)
			}
		})
	}
}

func TestAddWithoutGit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet")
	if code, _, errs := runCLI(t, "init", "--no-git", dir); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	bin := binFile(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.2.0"})
	code, out, errs := runCLI(t, "add", bin, dir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errs)
	}
	want := dir + " is not in a Git repository, so nothing is staged. Next, in the config repository:\n" +
		"  git commit -m \"smart-lamp 1.2.0\"\n"
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "firmware", "smart-lamp", "smart-lamp-1.2.0.bin")); err != nil {
		t.Error(err)
	}
}

// TestAddInSubdirectory keeps the config in a subdirectory of the Git
// repository, given as a relative DIR: staged paths are from the
// repository root.
func TestAddInSubdirectory(t *testing.T) {
	root := t.TempDir()
	repo, err := git.PlainInit(root, false)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, "init", "--no-git", filepath.Join(root, "ota")); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	if err := commitAll(root, "config"); err != nil {
		t.Fatal(err)
	}
	bin := binFile(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.2.0"})
	t.Chdir(filepath.Join(root, "ota", "platforms"))
	if code, out, errs := runCLI(t, "add", bin, ".."); code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errs)
	}
	want := "A  ota/firmware/smart-lamp/smart-lamp-1.2.0.bin\nM  ota/platforms/smart-lamp.toml"
	if got := status(t, repo); got != want {
		t.Errorf("git status:\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// TestAddInPlace adds a binary already copied to its conventional path.
func TestAddInPlace(t *testing.T) {
	dir, repo := fleetRepo(t, nil)
	img, err := espimage.Build(espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.2.0", Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	rel := "firmware/smart-lamp/smart-lamp-1.2.0.bin"
	writeFile(t, filepath.Join(dir, rel), img)
	code, out, errs := runCLI(t, "add", filepath.Join(dir, rel), dir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "kept     "+rel+" (already this binary)\n") {
		t.Errorf("output:\n%s", out)
	}
	if got, want := status(t, repo), "A  "+rel+"\nM  platforms/smart-lamp.toml"; got != want {
		t.Errorf("git status:\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// TestAddGzip adds a gzip-compressed ESP8266 image: platform and version
// are found in what it decompresses to, and the compressed file is stored.
func TestAddGzip(t *testing.T) {
	dir, _ := fleetRepo(t, nil)
	img, err := espimage.Build(espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.2.0", Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(img)
	zw.Close()
	bin := filepath.Join(t.TempDir(), "lamp.bin.gz")
	writeFile(t, bin, z.Bytes())
	code, out, errs := runCLI(t, "add", bin, dir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errs)
	}
	if got := readFile(t, filepath.Join(dir, "firmware", "smart-lamp", "smart-lamp-1.2.0.bin")); got != z.String() {
		t.Error("the stored binary is not the gzip file")
	}
	if !strings.Contains(out, `version  1.2.0, from "v1.2.0" in the binary`) {
		t.Errorf("output:\n%s", out)
	}
}

func TestAddInvalidRepository(t *testing.T) {
	dir, _ := fleetRepo(t, map[string]string{"platforms/desk-lamp.toml": "chip = \"esp9000\"\n"})
	bin := binFile(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.2.0"})
	code, _, errs := runCLI(t, "add", bin, dir)
	if code != 1 || !strings.Contains(errs, `platforms/desk-lamp.toml:1: chip: unknown chip "esp9000"`) ||
		!strings.Contains(errs, "has errors (above); fix them before adding a release") {
		t.Errorf("exit %d:\n%s", code, errs)
	}
}

func TestAddUsage(t *testing.T) {
	for _, args := range [][]string{{"add"}, {"add", "a", "b", "c"}, {"add", "--bogus", "x.bin"}} {
		if code, _, errs := runCLI(t, args...); code != 2 || !strings.Contains(errs, "otagit add") {
			t.Errorf("%v: exit %d, want 2:\n%s", args, code, errs)
		}
	}
}
