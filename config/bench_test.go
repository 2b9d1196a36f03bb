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
func fleetFiles(b testing.TB, n int) fstest.MapFS {
	files := validFiles(b)
	var sb strings.Builder
	for i := range n {
		platform := "lamp"
		if i%2 == 0 {
			platform = "station"
		}
		fmt.Fprintf(&sb, "[[device]]\nmac = \"24:0A:C4:%02X:%02X:%02X\"\nplatform = %q\nname = \"device %d\"\n\n", (i>>16)&0xFF, (i>>8)&0xFF, i&0xFF, platform, i)
	}
	files["devices/fleet.toml"] = &fstest.MapFile{Data: []byte(sb.String())}
	return files
}

// BenchmarkLoad100kDevices loads a config with 100,000 whitelisted
// devices and reports the heap the fleet keeps.
func BenchmarkLoad100kDevices(b *testing.B) {
	files := fleetFiles(b, 100000)
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
