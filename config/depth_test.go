package config

import (
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/otagit/otagit/artifact"
)

// TestDeepNestingRefusedEarly is fault 1: a small file of deeply nested
// inline tables took BurntSushi/toml and the line index time and memory
// quadratic in its depth (20,000 levels, 120 KB: 66 s, 15.6 GB). It is
// now refused before either runs, with its file and line.
func TestDeepNestingRefusedEarly(t *testing.T) {
	for _, n := range []int{4000, 40000} {
		for _, file := range []string{"platforms/lamp.toml", "devices/office.toml"} {
			files := validFiles(t)
			deep := "\nx = " + strings.Repeat("{a = ", n) + "1" + strings.Repeat("}", n) + "\n"
			src := append(append([]byte{}, files[file].Data...), deep...)
			files[file] = &fstest.MapFile{Data: src}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			fleet, probs := Load(files, artifact.ReadInspector{})
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if fleet != nil {
				t.Fatalf("%d levels in %s: loaded", n, file)
			}
			found := false
			for _, p := range probs.Errors() {
				if p.File == file && p.Line == strings.Count(string(src[:len(src)-len(deep)]), "\n")+2 && strings.Contains(p.Message, "nest more than 64 levels") {
					found = true
				}
			}
			if !found {
				t.Errorf("%d levels in %s: no depth error at its line: %v", n, file, probs)
			}
			// Generous: the fixture's other files and binaries are read too.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64*uint64(len(src))+64<<20 {
				t.Errorf("%d levels in %s (%d bytes): %d bytes allocated", n, file, len(src), alloc)
			}
			t.Logf("%d levels in %s: refused in %v", n, file, took)
		}
	}
}
