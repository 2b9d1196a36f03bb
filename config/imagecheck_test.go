package config

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/rollout"
)

// build makes an image with espimage.Build, failing the test on error.
func build(t testing.TB, opts espimage.BuildOptions) []byte {
	t.Helper()
	if opts.Size == 0 {
		opts.Size = 4096
	}
	b, err := espimage.Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// patch returns a copy of img with s written at offset off, the way a
// linker puts a string somewhere in a segment. The image checksum is not
// updated; nothing otagit checks depends on it.
func patch(img []byte, off int, s string) []byte {
	out := append([]byte(nil), img...)
	copy(out[off:], s)
	return out
}

// withChipID returns a copy of an ESP32-family image with another chip id.
func withChipID(img []byte, id uint16) []byte {
	out := append([]byte(nil), img...)
	binary.LittleEndian.PutUint16(out[12:], id)
	return out
}

// checkFiles is a config with one ESP8266 platform (smart-lamp) and one
// ESP32 platform (station), each with one release of fw/<platform>.bin.
func checkFiles(lampVersion, stationVersion string, lamp, station []byte) fstest.MapFS {
	return fstest.MapFS{
		"platforms/smart-lamp.toml": {Data: []byte(fmt.Sprintf("chip = \"esp8266\"\n[[release]]\nversion = %q\nfile = \"fw/smart-lamp.bin\"\n", lampVersion))},
		"platforms/station.toml":    {Data: []byte(fmt.Sprintf("chip = \"esp32\"\n[[release]]\nversion = %q\nfile = \"fw/station.bin\"\n", stationVersion))},
		"devices/all.toml":          {Data: []byte("[[device]]\nmac = \"AA:BB:CC:DD:EE:01\"\nplatform = \"smart-lamp\"\n")},
		"fw/smart-lamp.bin":         {Data: lamp},
		"fw/station.bin":            {Data: station},
	}
}

func TestCheckImage(t *testing.T) {
	lampOK := build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.2.0"})
	stationOK := build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "station", Version: "2.1.0"})
	const (
		lampAt    = `platforms/smart-lamp.toml:4: release[0].file: binary "fw/smart-lamp.bin": `
		lampWarn  = `platforms/smart-lamp.toml:4: warning: release[0].file: binary "fw/smart-lamp.bin": `
		stationAt = `platforms/station.toml:4: release[0].file: binary "fw/station.bin": `
		stWarn    = `platforms/station.toml:4: warning: release[0].file: binary "fw/station.bin": `
	)
	// arduino is an Arduino-ESP32 sketch: its descriptor comes from the
	// precompiled ESP-IDF libraries, not from the sketch.
	arduino := espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "arduino-lib-builder", Version: "esp-idf: v5.1.4 d7b0a45ddb"}

	tests := []struct {
		name                string
		lampVer, stationVer string
		lamp, station       []byte
		want                []string
	}{
		{name: "both confirmed", lampVer: "1.2.0", stationVer: "2.1.0", lamp: lampOK, station: stationOK},
		{
			name: "leading v and any case confirm", lampVer: "v1.2.0", stationVer: "v2.1.0",
			lamp:    build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "Smart-Lamp", Version: "1.2.0"}),
			station: build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "Station-FW", Version: "v2.1.0"}),
		},
		{
			name: "esp8266 seed: no version", lampVer: "1.2.0", stationVer: "2.1.0", station: stationOK,
			lamp: build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp"}),
			want: []string{lampWarn + `no app descriptor, and the binary does not contain "v1.2.0"`},
		},
		{
			name: "esp8266 seed: other version", lampVer: "1.2.0", stationVer: "2.1.0", station: stationOK,
			lamp: build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.1.0"}),
			want: []string{lampWarn + `no app descriptor, and the binary has "v1.1.0" as its first version string, not "v1.2.0"`},
		},
		{
			name: "esp8266 seed: no platform name", lampVer: "1.2.0", stationVer: "2.1.0", station: stationOK,
			lamp: build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "garage", Version: "1.2.0"}),
			want: []string{lampWarn + `no app descriptor, and the binary does not contain "smart-lamp"`},
		},
		{
			name: "esp8266 seed: nothing", lampVer: "1.2.0", stationVer: "2.1.0", station: stationOK,
			lamp: build(t, espimage.BuildOptions{Chip: espimage.ESP8266}),
			want: []string{lampWarn + `no app descriptor, and the binary contains neither "smart-lamp" nor "v1.2.0"`},
		},
		{
			name: "esp8266 seed: wrong name and version", lampVer: "1.2.0", stationVer: "2.1.0", station: stationOK,
			lamp: build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "garage", Version: "0.9.0"}),
			want: []string{lampWarn + `no app descriptor, and the binary does not contain "smart-lamp", and its first version string is "v0.9.0", not "v1.2.0"`},
		},
		{
			name: "esp8266 gzip: checked inside", lampVer: "1.2.0", stationVer: "2.1.0", station: stationOK,
			lamp: gzipBytes(t, lampOK),
		},
		{
			name: "esp8266 gzip: wrong version inside", lampVer: "1.2.0", stationVer: "2.1.0", station: stationOK,
			lamp: gzipBytes(t, build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.1.0"})),
			want: []string{lampWarn + `no app descriptor, and the binary has "v1.1.0" as its first version string, not "v1.2.0"`},
		},
		{
			name: "esp8266 gzip: another chip inside", lampVer: "1.2.0", stationVer: "2.1.0", station: stationOK,
			lamp: gzipBytes(t, stationOK),
			want: []string{lampAt + `built for esp32, but platform smart-lamp is esp8266`},
		},
		{
			name: "release version unreadable: only that error", lampVer: "1.2", stationVer: "2.1.0", station: stationOK,
			lamp: build(t, espimage.BuildOptions{Chip: espimage.ESP8266}),
			want: []string{`platforms/smart-lamp.toml:3: release[0].version: "1.2" is not a semantic version (MAJOR.MINOR.PATCH, e.g. "1.2.3")`},
		},
		{
			name: "descriptor: wrong version", lampVer: "1.2.0", stationVer: "2.1.0", lamp: lampOK,
			station: build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "station", Version: "2.0.0"}),
			want:    []string{stWarn + `descriptor says version 2.0.0; release is station 2.1.0`},
		},
		{
			// The body's "v2.1.0" cannot overrule the descriptor.
			name: "descriptor: wrong version, right seed version", lampVer: "1.2.0", stationVer: "2.1.0", lamp: lampOK,
			station: patch(build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "station", Version: "2.0.0"}), 2048, "\x00v2.1.0\x00"),
			want:    []string{stWarn + `descriptor says version 2.0.0; release is station 2.1.0`},
		},
		{
			name: "descriptor: wrong project and version", lampVer: "1.2.0", stationVer: "2.1.0", lamp: lampOK,
			station: build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "lamp-fw", Version: "1.1.0"}),
			want:    []string{stWarn + `descriptor says project "lamp-fw" version 1.1.0; release is station 2.1.0`},
		},
		{
			name: "descriptor: wrong project only", lampVer: "1.2.0", stationVer: "2.1.0", lamp: lampOK,
			station: build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "lamp-fw", Version: "2.1.0"}),
			want:    []string{stWarn + `descriptor says project "lamp-fw"; release is station 2.1.0`},
		},
		{
			name: "descriptor: other project, but the binary names the platform", lampVer: "1.2.0", stationVer: "2.1.0", lamp: lampOK,
			station: patch(build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "firmware", Version: "2.1.0"}), 2048, "\x00STATION\x00"),
		},
		{
			name: "arduino descriptor, seed finds another version", lampVer: "1.2.0", stationVer: "2.1.0", lamp: lampOK,
			station: build(t, arduino),
			want: []string{stWarn + `descriptor says project "arduino-lib-builder" version "esp-idf: v5.1.4 d7b0a45ddb" (not a semantic version), ` +
				`and the binary has "v5.1.4" as its first version string, not "v2.1.0"; release is station 2.1.0`},
		},
		{
			// Scanned as is, the descriptor's ESP-IDF version "v5.4.1"
			// would be the binary's first version string.
			name: "descriptor text is not taken for the seed version", lampVer: "1.2.0", stationVer: "2.1.0", lamp: lampOK,
			station: patch(build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "station", IDFVersion: "v5.4.1"}), 2048, "\x00v2.1.0\x00"),
		},
		{
			name: "esp32 without descriptor: seed confirms", lampVer: "1.2.0", stationVer: "2.1.0", lamp: lampOK,
			station: build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "station", Version: "2.1.0", NoDescriptor: true}),
		},
		{
			name: "esp32 without descriptor: seed does not", lampVer: "1.2.0", stationVer: "2.1.0", lamp: lampOK,
			station: build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "weather", Version: "2.1.0", NoDescriptor: true}),
			want:    []string{stWarn + `no app descriptor, and the binary does not contain "station"`},
		},
		{
			// A project name byte that is not printable makes Parse drop
			// the descriptor.
			name: "unreadable descriptor", lampVer: "1.2.0", stationVer: "2.1.0", lamp: lampOK,
			station: patch(build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "xyz", Version: "2.1.0"}), 32+48, "\x01"),
			want:    []string{stWarn + `an unreadable app descriptor, and the binary does not contain "station"`},
		},
		{
			name: "wrong chip both ways", lampVer: "1.2.0", stationVer: "2.1.0",
			lamp:    build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "smart-lamp", Version: "1.2.0"}),
			station: build(t, espimage.BuildOptions{Chip: espimage.ESP32C3, ProjectName: "station", Version: "2.1.0"}),
			want: []string{
				lampAt + `built for esp32, but platform smart-lamp is esp8266`,
				stationAt + `built for esp32c3, but platform station is esp32`,
			},
		},
		{
			name: "esp8266 image on an esp32 platform", lampVer: "1.2.0", stationVer: "2.1.0", lamp: lampOK,
			station: build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "station", Version: "2.1.0"}),
			want:    []string{stationAt + `built for esp8266, but platform station is esp32`},
		},
		{
			name: "unknown chip id", lampVer: "1.2.0", stationVer: "2.1.0",
			lamp:    withChipID(build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "smart-lamp", Version: "1.2.0"}), 99),
			station: withChipID(stationOK, 99),
			want: []string{
				lampAt + `built for an ESP32-family chip with chip id 0x0063 (unknown to otagit), but platform smart-lamp is esp8266`,
				stWarn + `chip id 0x0063 in the image header is unknown to otagit, so it cannot check that the image is for esp32`,
			},
		},
		{
			name: "unknown chip id and wrong version", lampVer: "1.2.0", stationVer: "2.2.0", lamp: lampOK,
			station: withChipID(stationOK, 99),
			want: []string{
				stWarn + `chip id 0x0063 in the image header is unknown to otagit, so it cannot check that the image is for esp32`,
				stWarn + `descriptor says version 2.1.0; release is station 2.2.0`,
			},
		},
		{
			name: "header too short", lampVer: "1.2.0", stationVer: "2.1.0", lamp: lampOK,
			station: []byte{0xE9, 2, 2, 0x20, 0, 0, 0, 0, 0, 0},
			want:    []string{stationAt + `not a valid ESP application image: got 10 bytes, header needs 24: espimage: image too short`},
		},
		{
			name: "bad segment count", lampVer: "1.2.0", stationVer: "2.1.0", lamp: lampOK,
			station: patch(stationOK, 1, "\x00"),
			want:    []string{stationAt + `not a valid ESP application image: 0 segments, want 1 to 16: espimage: implausible segment count`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fleet, probs := Load(checkFiles(tt.lampVer, tt.stationVer, tt.lamp, tt.station), artifact.ReadInspector{})
			var got []string
			for _, p := range probs {
				got = append(got, p.String())
			}
			if g, w := strings.Join(got, "\n"), strings.Join(tt.want, "\n"); g != w {
				t.Errorf("problems:\ngot:\n%s\nwant:\n%s", g, w)
			}
			if hasErr := len(probs.Errors()) > 0; hasErr != (fleet == nil) {
				t.Errorf("fleet %v with %d errors", fleet != nil, len(probs.Errors()))
			}
		})
	}
}

// countingFS counts how often each file of an fs.FS is opened. It passes
// Stat and ReadDir through, so a TreeFS keeps reporting blob hashes.
type countingFS struct {
	fs.FS
	// blobs makes Stat report each file's Git blob hash as its Sys(), as
	// gitstore's TreeFS does.
	blobs bool
	mu    sync.Mutex
	opens map[string]int
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.mu.Lock()
	if c.opens == nil {
		c.opens = map[string]int{}
	}
	c.opens[name]++
	c.mu.Unlock()
	return c.FS.Open(name)
}

func (c *countingFS) Stat(name string) (fs.FileInfo, error) {
	st, err := fs.Stat(c.FS, name)
	if err != nil || !c.blobs || st.IsDir() {
		return st, err
	}
	data, err := fs.ReadFile(c.FS, name)
	if err != nil {
		return nil, err
	}
	return blobInfo{st, plumbing.ComputeHash(plumbing.BlobObject, data)}, nil
}

// blobInfo is a FileInfo whose Sys() is a Git blob hash.
type blobInfo struct {
	fs.FileInfo
	hash plumbing.Hash
}

func (b blobInfo) Sys() any { return b.hash }

func (c *countingFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(c.FS, name) }

func (c *countingFS) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opens[name]
}

func (c *countingFS) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opens = nil
}

// TestSeedScanNotRepeatedWithCache loads one commit twice through one Cache,
// the way the server syncs a commit whose binaries did not change. Between
// the loads the cached artifacts are overwritten with zeros of the same
// size: if the second load read any binary again, for the Inspector or for
// the seed scan, it would not find the platform name and version and would
// warn.
func TestSeedScanNotRepeatedWithCache(t *testing.T) {
	lamp := build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.2.0", Size: 5000})
	station := build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "station", Version: "2.1.0", Size: 5008, NoDescriptor: true})
	cache, err := artifact.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Files that carry their Git blob hash, as a commit's tree does, so
	// that the cache can know them without reading them.
	fsys := &countingFS{FS: checkFiles("1.2.0", "2.1.0", lamp, station), blobs: true}
	scans := NewScanMemo()
	load := func() (*rollout.Fleet, Problems) {
		res := LoadTree(fsys, LoadOptions{Inspector: cache, Scans: scans})
		return res.Fleet, res.Problems
	}

	fleet, probs := load()
	if fleet == nil || len(probs) != 0 {
		t.Fatalf("first load: %v", probs)
	}
	for _, bin := range []string{"fw/smart-lamp.bin", "fw/station.bin"} {
		if got := fsys.count(bin); got != 1 {
			t.Errorf("first load opened %s %d times, want 1 (into the cache)", bin, got)
		}
		a := fleet.Platform(strings.TrimSuffix(strings.TrimPrefix(bin, "fw/"), ".bin")).Releases[0].Artifact
		if err := os.WriteFile(a.File, make([]byte, a.Size), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	fsys.reset()
	fleet, probs = load()
	if fleet == nil || len(probs) != 0 {
		t.Fatalf("second load read a binary again: %v", probs)
	}
	for _, bin := range []string{"fw/smart-lamp.bin", "fw/station.bin"} {
		if got := fsys.count(bin); got != 0 {
			t.Errorf("second load opened %s %d times, want 0", bin, got)
		}
	}
}

// TestSeedScanWorkTree checks that without a cached file (`otagit
// validate`) the seed scan reads the binary from the loaded fs.FS, once per
// content.
func TestSeedScanWorkTree(t *testing.T) {
	lamp := build(t, espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.2.0", Size: 5024})
	station := build(t, espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "station", Version: "2.1.0", Size: 5040})
	fsys := &countingFS{FS: checkFiles("1.2.0", "2.1.0", lamp, station)}
	scans := NewScanMemo()
	for i, want := range []int{2, 1} { // the inspector, then the seed scan once
		fsys.reset()
		res := LoadTree(fsys, LoadOptions{Inspector: artifact.ReadInspector{}, Scans: scans})
		if fleet, probs := res.Fleet, res.Problems; fleet == nil || len(probs) != 0 {
			t.Fatalf("load %d: %v", i, probs)
		}
		if got := fsys.count("fw/smart-lamp.bin"); got != want {
			t.Errorf("load %d opened the ESP8266 binary %d times, want %d", i, got, want)
		}
		// The descriptor confirms the ESP32 release: no scan.
		if got := fsys.count("fw/station.bin"); got != 1 {
			t.Errorf("load %d opened the ESP32 binary %d times, want 1", i, got)
		}
	}
}

func TestSeedMemoBound(t *testing.T) {
	m := &ScanMemo{seeds: memo[seedKey, espimage.SeedMatch]{limit: 2}}
	k := func(i int) seedKey { return seedKey{sha256: fmt.Sprint(i), platform: "p"} }
	v := func(i int) espimage.SeedMatch { return espimage.SeedMatch{Version: fmt.Sprintf("%d.0.0", i)} }
	m.put(k(1), v(1))
	m.put(k(2), v(2))
	m.put(k(3), v(3)) // 1 and 2 move to the previous generation
	if got, ok := m.get(k(1)); !ok || got != v(1) {
		t.Errorf("get 1 after one rotation: got %v, %v; want %v", got, ok, v(1))
	}
	// 1 was promoted, so the current generation (3, 1) is full: the next
	// put drops 2.
	m.put(k(4), v(4))
	if _, ok := m.get(k(2)); ok {
		t.Error("2 survived two rotations")
	}
	for _, i := range []int{1, 3, 4} {
		if _, ok := m.get(k(i)); !ok {
			t.Errorf("%d was dropped", i)
		}
	}
	if n := len(m.seeds.cur) + len(m.seeds.prev); n > 2*m.seeds.limit {
		t.Errorf("memo holds %d entries, limit is %d per generation", n, m.seeds.limit)
	}
}

func TestSeedMemoConcurrent(t *testing.T) {
	m := &ScanMemo{seeds: memo[seedKey, espimage.SeedMatch]{limit: 8}}
	var hits atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				k := seedKey{sha256: fmt.Sprint((g + i) % 20), platform: "p"}
				if _, ok := m.get(k); ok {
					hits.Add(1)
				} else {
					m.put(k, espimage.SeedMatch{PlatformFound: true})
				}
			}
		})
	}
	wg.Wait()
	if hits.Load() == 0 {
		t.Error("no memo hits")
	}
}
