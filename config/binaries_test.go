package config

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/rollout"
)

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zlibBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func md5Of(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// littlefs is the start of a littlefs image: revision count, tag, name.
func littlefs() []byte {
	b := bytes.Repeat([]byte{0xFF}, 8192)
	binary.LittleEndian.PutUint32(b, 1)
	copy(b[8:], "littlefs")
	return b
}

// imageConfig is a one-platform config around the given files.
func imageConfig(platform string, files map[string][]byte) fstest.MapFS {
	m := fstest.MapFS{
		"platforms/lamp.toml": {Data: []byte(platform)},
		"devices/d.toml":      {Data: []byte("[[device]]\nmac = \"AA:BB:CC:DD:EE:01\"\nplatform = \"lamp\"\n")},
	}
	for name, data := range files {
		m[name] = &fstest.MapFile{Data: data}
	}
	return m
}

func TestImageKinds(t *testing.T) {
	esp8266 := build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "lamp", Version: "1.0.0", Arduino: true, Size: 8192})
	esp32 := build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "lamp", Version: "1.0.0"})
	boot := build(t, espimage.BuildOptions{Chip: espimage.ESP32, RAMOnly: true, NoDescriptor: true})
	signed := append(bytes.Repeat([]byte{0x33}, espimage.SignatureLen), esp32...)
	const at = `platforms/lamp.toml:4: release[0].file: binary "fw/x.bin": `
	const warn = `platforms/lamp.toml:4: warning: release[0].file: binary "fw/x.bin": `
	tests := []struct {
		name, chip string
		bin        []byte
		want       string
	}{
		{"bootloader", "esp32", boot, at + "is not an application image: none of its segments loads into flash, so it is a bootloader or an image that runs from RAM; OTA updates install applications"},
		{"bootloader inside gzip", "esp32", gzipBytes(t, boot), at + "is not an application image: none of its segments loads into flash, so it is a bootloader or an image that runs from RAM; OTA updates install applications"},
		{"filesystem as file", "esp32", littlefs(), at + `is a LittleFS filesystem image, not an application: give it as filesystem = "fw/x.bin"`},
		{"zlib for esp32FOTA", "esp32", zlibBytes(t, esp32), warn + `is zlib-compressed: only esp32FOTA devices (with flashz support, from a URL holding "zz") can flash it; HTTPUpdate devices fail on it (its first byte is not 0xE9)`},
		{"esp32FOTA signed", "esp32", signed, warn + "starts with a 512-byte signature: only esp32FOTA devices with signature checks can flash it; HTTPUpdate devices fail on it (its first byte is not 0xE9)"},
		{"esp32FOTA signed gzip-looking signature", "esp32", append(append([]byte{0x1F, 0x8B, 8}, bytes.Repeat([]byte{1}, espimage.SignatureLen-3)...), esp32...), warn + "starts with a 512-byte signature: only esp32FOTA devices with signature checks can flash it; HTTPUpdate devices fail on it (its first byte is not 0xE9)"},
		{"zlib on esp8266", "esp8266", zlibBytes(t, esp8266), at + "is zlib-compressed: ESP8266 devices inflate gzip images only (gzip -9, or gzip = true on the platform)"},
		{"signature first on esp8266", "esp8266", append(bytes.Repeat([]byte{0x33}, espimage.SignatureLen), esp8266...), at + "starts with a 512-byte signature, as esp32FOTA signed images do: ESP8266 devices cannot flash it (their signed images carry the signature at the end)"},
		{"truncated", "esp8266", esp8266[:5000], at + "is a damaged image: application at 0x1000: truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := imageConfig("chip = \""+tt.chip+"\"\n[[release]]\nversion = \"1.0.0\"\nfile = \"fw/x.bin\"\n", map[string][]byte{"fw/x.bin": tt.bin})
			_, probs := Load(files, artifact.ReadInspector{})
			if got := problemLines(probs); !strings.HasPrefix(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestCompressedImageArtifact(t *testing.T) {
	img := build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "lamp", Version: "1.0.0", Arduino: true, Size: 16384})
	// The sketch MD5 the device reports: the image up to its checksum
	// block, as Esp.cpp measures it; the padding Build adds is not part of
	// it.
	end := len(img)
	for img[end-1] == 0xFF {
		end--
	}
	sketch := md5Of(img[:(end+15)&^15])
	gz := gzipBytes(t, img)
	files := imageConfig("chip = \"esp8266\"\n[[release]]\nversion = \"1.0.0\"\nfile = \"fw/lamp.bin.gz\"\n", map[string][]byte{"fw/lamp.bin.gz": gz})
	fleet, probs := Load(files, artifact.ReadInspector{})
	if fleet == nil {
		t.Fatalf("problems: %s", problemLines(probs))
	}
	a := fleet.Platform("lamp").Releases[0].Artifact
	want := rollout.Artifact{Source: rollout.Source{Path: "fw/lamp.bin.gz"}, Size: int64(len(gz)), SHA256: a.SHA256, MD5: md5Of(gz),
		FlashSize: 4 << 20, Encoding: rollout.Gzip, ImageSize: int64(len(img)), FlashedMD5: sketch}
	if a != want {
		t.Errorf("artifact:\ngot  %+v\nwant %+v", a, want)
	}
	if !a.RunBy(sketch) || a.RunBy(md5Of(gz)) {
		t.Errorf("RunBy: the flashed image's MD5 must run it, the download's must not")
	}
}

func TestGzipPlatform(t *testing.T) {
	img := build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "lamp", Version: "1.0.0", Arduino: true, Size: 32768, Compressible: true})
	committedGz := gzipBytes(t, build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "lamp", Version: "1.1.0", Arduino: true, Size: 32768, Compressible: true}))
	files := imageConfig(`chip = "esp8266"
gzip = true
[[release]]
version = "1.0.0"
file = "fw/lamp-1.0.0.bin"
[[release]]
version = "1.1.0"
file = "fw/lamp-1.1.0.bin.gz"
`, map[string][]byte{"fw/lamp-1.0.0.bin": img, "fw/lamp-1.1.0.bin.gz": committedGz})

	for _, in := range []struct {
		name string
		in   func(t *testing.T) artifact.Inspector
	}{
		{"validate (nothing stored)", func(*testing.T) artifact.Inspector { return artifact.ReadInspector{} }},
		{"server (cache)", func(t *testing.T) artifact.Inspector {
			c, err := artifact.OpenCache(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
	} {
		t.Run(in.name, func(t *testing.T) {
			fleet, probs := Load(files, in.in(t))
			if fleet == nil || len(probs) > 0 {
				t.Fatalf("problems: %s", problemLines(probs))
			}
			rels := fleet.Platform("lamp").Releases
			a := rels[1].Artifact // 1.0.0: compressed by the server
			var z bytes.Buffer
			artifact.Compress(&z, bytes.NewReader(img))
			if a.Encoding != rollout.Gzip || a.Size != int64(z.Len()) || a.MD5 != md5Of(z.Bytes()) || a.ImageSize != int64(len(img)) {
				t.Errorf("compressed artifact: %+v; want the Compress copy (%d bytes) of the %d-byte image", a, z.Len(), len(img))
			}
			if a.SourceSize != int64(len(img)) || len(a.SourceSHA256) != 64 || a.Saved() != int64(len(img)-z.Len()) {
				t.Errorf("source: %d bytes %s, saved %d", a.SourceSize, a.SourceSHA256, a.Saved())
			}
			if a.FlashedMD5 == "" || a.FlashedMD5 == a.MD5 {
				t.Errorf("FlashedMD5 %q: want the image's", a.FlashedMD5)
			}
			if (a.File != "") != (in.name == "server (cache)") {
				t.Errorf("File %q", a.File)
			}
			b := rels[0].Artifact // 1.1.0: committed compressed, served as is
			if b.Size != int64(len(committedGz)) || b.SourceSHA256 != "" || b.Encoding != rollout.Gzip {
				t.Errorf("committed gzip: %+v, want served as committed", b)
			}
		})
	}

	esp32 := imageConfig("chip = \"esp32\"\ngzip = true\n", nil)
	_, probs := Load(esp32, artifact.ReadInspector{})
	if got := problemLines(probs); !strings.Contains(got, "platforms/lamp.toml:2: gzip: gzip is for esp8266 platforms") {
		t.Errorf("gzip on esp32: %s", got)
	}
}

func TestReleaseFilesystem(t *testing.T) {
	app := build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "lamp", Version: "1.0.0"})
	platform := "chip = \"esp8266\"\n[[release]]\nversion = \"1.0.0\"\nfile = \"fw/lamp.bin\"\nfilesystem = \"fw/fs.bin\"\n"
	const at = `platforms/lamp.toml:5: release[0].filesystem: `
	tests := []struct {
		name string
		fs   []byte
		want string
	}{
		{"littlefs", littlefs(), ""},
		{"unrecognised", bytes.Repeat([]byte{0x42}, 4096), `platforms/lamp.toml:5: warning: release[0].filesystem: binary "fw/fs.bin" is not recognised as a LittleFS, SPIFFS (written with SPIFFS_USE_MAGIC) or FAT image; it is served as it is`},
		{"an application", app, at + `binary "fw/fs.bin" is an ESP application image for esp8266, not a filesystem image: give it as file = "fw/fs.bin"`},
		{"gzip of an application", gzipBytes(t, app), at + `binary "fw/fs.bin" is a gzip-compressed ESP application image for esp8266, not a filesystem image: give it as file = "fw/fs.bin"`},
		{"empty", []byte{}, at + `binary "fw/fs.bin" is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := imageConfig(platform, map[string][]byte{"fw/lamp.bin": app, "fw/fs.bin": tt.fs})
			fleet, probs := Load(files, artifact.ReadInspector{})
			if got := problemLines(probs); got != tt.want {
				t.Fatalf("problems:\n%s\nwant:\n%s", got, tt.want)
			}
			if fleet == nil {
				return
			}
			r := fleet.Platform("lamp").Releases[0]
			if r.Filesystem == nil || r.Filesystem.Size != int64(len(tt.fs)) || r.Filesystem.MD5 != md5Of(tt.fs) || r.Filesystem.Source.Path != "fw/fs.bin" {
				t.Errorf("filesystem: %+v", r.Filesystem)
			}
		})
	}
	files := imageConfig(platform, map[string][]byte{"fw/lamp.bin": app})
	if _, probs := Load(files, artifact.ReadInspector{}); problemLines(probs) != at+`binary "fw/fs.bin" not found in the repository` {
		t.Errorf("missing filesystem: %s", problemLines(probs))
	}

	// A filesystem is part of the release: changing it changes the
	// fingerprint (and clears a halt); a release without one keeps the
	// fingerprint it had before filesystems existed.
	withFS, _ := Load(imageConfig(platform, map[string][]byte{"fw/lamp.bin": app, "fw/fs.bin": littlefs()}), artifact.ReadInspector{})
	other := littlefs()
	other[100] = 7
	withOther, _ := Load(imageConfig(platform, map[string][]byte{"fw/lamp.bin": app, "fw/fs.bin": other}), artifact.ReadInspector{})
	without, _ := Load(imageConfig(strings.Replace(platform, "filesystem = \"fw/fs.bin\"\n", "", 1), map[string][]byte{"fw/lamp.bin": app}), artifact.ReadInspector{})
	f1, f2, f0 := withFS.Platform("lamp").Releases[0], withOther.Platform("lamp").Releases[0], without.Platform("lamp").Releases[0]
	if f1.Fingerprint == f2.Fingerprint || f1.Fingerprint == f0.Fingerprint {
		t.Errorf("fingerprints %s %s %s: want a new one for each filesystem", f1.Fingerprint, f2.Fingerprint, f0.Fingerprint)
	}
	r := *f0
	r.Filesystem = nil
	if fingerprint(&r) != f0.Fingerprint {
		t.Error("fingerprint is not a function of the release")
	}
}

// TestGzipPlatformIncompressible: an image gzip cannot shrink is served
// as it is, not as a larger copy.
func TestGzipPlatformIncompressible(t *testing.T) {
	img := build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "lamp", Version: "1.0.0", Size: 32768}) // random filler
	files := imageConfig("chip = \"esp8266\"\ngzip = true\n[[release]]\nversion = \"1.0.0\"\nfile = \"fw/a.bin\"\n", map[string][]byte{"fw/a.bin": img})
	fleet, probs := Load(files, artifact.ReadInspector{})
	if fleet == nil {
		t.Fatal(problemLines(probs))
	}
	if a := fleet.Platform("lamp").Releases[0].Artifact; a.Encoding != rollout.Raw || a.Size != int64(len(img)) || a.SourceSHA256 != "" {
		t.Errorf("artifact %+v: want the image as it is", a)
	}
}

// staticGitHub is a ReleaseSource of fixed releases whose assets are read
// with ReadInspector (stored nowhere).
type staticGitHub struct {
	rels   []GitHubRelease
	assets map[int64][]byte
}

func (s staticGitHub) Releases(context.Context, string) ([]GitHubRelease, time.Time, error) {
	return s.rels, time.Now(), nil
}

func (s staticGitHub) ReleaseByTag(_ context.Context, _, tag string) (GitHubRelease, time.Time, error) {
	for _, r := range s.rels {
		if r.Tag == tag {
			return r, time.Now(), nil
		}
	}
	return GitHubRelease{}, time.Time{}, ErrReleaseNotFound
}

func (s staticGitHub) Asset(_ context.Context, _ string, a GitHubAsset) (artifact.Blob, error) {
	return artifact.ReadInspector{}.Inspect(fstest.MapFS{"a": {Data: s.assets[a.ID]}}, "a")
}

// TestGitHubReleaseFilesystem: a release taken from GitHub gets its
// filesystem image from the repository, pinned or followed.
func TestGitHubReleaseFilesystem(t *testing.T) {
	app1 := build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "lamp", Version: "1.0.0"})
	app2 := build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "lamp", Version: "2.0.0"})
	gh := staticGitHub{
		rels: []GitHubRelease{
			{ID: 1, Tag: "v1.0.0", PublishedAt: time.Now(), Assets: []GitHubAsset{{ID: 11, Name: "lamp.bin", Size: int64(len(app1))}}},
			{ID: 2, Tag: "v2.0.0", PublishedAt: time.Now(), Assets: []GitHubAsset{{ID: 12, Name: "lamp.bin", Size: int64(len(app2))}}},
		},
		assets: map[int64][]byte{11: app1, 12: app2},
	}
	files := imageConfig(`chip = "esp32"
[github]
repo = "acme/lamp"
asset = "lamp.bin"

[[release]]
version = "2.0.0"
filesystem = "fw/fs-2.bin"
`, map[string][]byte{"fw/fs-2.bin": littlefs()})
	res := LoadTree(files, LoadOptions{Inspector: artifact.ReadInspector{}, GitHub: gh})
	if res.Fleet == nil {
		t.Fatal(problemLines(res.Problems))
	}
	rels := res.Fleet.Platform("lamp").Releases
	if len(rels) != 2 || rels[0].Filesystem == nil || rels[0].Filesystem.Source.Path != "fw/fs-2.bin" || rels[1].Filesystem != nil {
		t.Errorf("followed releases: %+v, %+v", rels[0], rels[1])
	}

	sum := sha256.Sum256(app1)
	pinned := imageConfig(`chip = "esp32"
[[release]]
version = "1.0.0"
github = "acme/lamp"
tag = "v1.0.0"
asset = "lamp.bin"
sha256 = "`+hex.EncodeToString(sum[:])+`"
filesystem = "fw/fs-1.bin"
`, map[string][]byte{"fw/fs-1.bin": littlefs()})
	res = LoadTree(pinned, LoadOptions{Inspector: artifact.ReadInspector{}, GitHub: gh})
	if res.Fleet == nil || res.Fleet.Platform("lamp").Releases[0].Filesystem == nil {
		t.Errorf("pinned release: %s", problemLines(res.Problems))
	}
}
