package config

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/otagit/otagit/artifact"
)

// fleetFiles is validFiles with n more whitelisted devices in one file.
func fleetFiles(b testing.TB, n int) fstest.MapFS { return fleetFilesIn(b, n, 1) }

// fleetFilesIn is validFiles with n more whitelisted devices spread over
// files whitelists, as a big fleet keeps them.
func fleetFilesIn(b testing.TB, n, files int) fstest.MapFS {
	fsys := validFiles(b)
	per := (n + files - 1) / files
	for f := range files {
		var sb strings.Builder
		for i := f * per; i < min(n, (f+1)*per); i++ {
			platform := "lamp"
			if i%2 == 0 {
				platform = "station"
			}
			fmt.Fprintf(&sb, "[[device]]\nmac = \"24:0A:C4:%02X:%02X:%02X\"\nplatform = %q\nname = \"device %d\"\n\n", (i>>16)&0xFF, (i>>8)&0xFF, i&0xFF, platform, i)
		}
		name := "devices/fleet.toml"
		if files > 1 {
			name = fmt.Sprintf("devices/fleet-%03d.toml", f)
		}
		fsys[name] = &fstest.MapFile{Data: []byte(sb.String())}
	}
	return fsys
}

// BenchmarkLoad100kDevices loads a config with 100,000 whitelisted
// devices and reports the heap the fleet keeps.
func BenchmarkLoad100kDevices(b *testing.B) { benchmarkLoad(b, fleetFiles(b, 100000)) }

// BenchmarkLoad1MDevices loads a config with 1,000,000 whitelisted
// devices in 100 files of 10,000.
func BenchmarkLoad1MDevices(b *testing.B) { benchmarkLoad(b, fleetFilesIn(b, 1000000, 100)) }

func benchmarkLoad(b *testing.B, files fstest.MapFS) {
	b.ReportAllocs()
	var live uint64
	for b.Loop() {
		fleet, probs := Load(files, artifact.ReadInspector{})
		if fleet == nil {
			b.Fatal(probs)
		}
		b.StopTimer()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		live = ms.HeapAlloc
		runtime.KeepAlive(fleet)
		b.StartTimer()
	}
	b.ReportMetric(float64(live)/(1<<20), "MB-heap-with-fleet")
}
