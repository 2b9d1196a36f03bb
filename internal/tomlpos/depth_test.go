package tomlpos

import (
	"runtime"
	"strings"
	"testing"
)

func nested(n int) []byte {
	return []byte("y = 2\nx = " + strings.Repeat("{a = ", n) + "1" + strings.Repeat("}", n) + "\n")
}

func TestCheckDepth(t *testing.T) {
	for _, c := range []struct {
		src  string
		want int
	}{
		{"a = [[1], [2]]\n[t]\nb = {c = {d = 1}}\n", 0},
		{"a = [[[1]]]\n", 1},
		{"s = \"[[[[\"\nl = '{{{{'\n# [[[[\n", 0},
		{"m = \"\"\"\n[[[[\n\\\"\"\"\"\" \nx = [[[1]]]\n", 4},
		{"m = '''\n{{{{'''\nx = 1\n", 0},
		{"s = \"\\\"[[[[\"\n", 0},
		{"a = [\n[\n[\n1]]]\n", 3},
		{"s = \"unterminated\n[[[[", 2},
	} {
		if got := CheckDepth([]byte(c.src), 2); got != c.want {
			t.Errorf("CheckDepth(%q, 2) = %d, want %d", c.src, got, c.want)
		}
	}
	if got := CheckDepth(nested(MaxDepth), MaxDepth); got != 0 {
		t.Errorf("%d levels refused at line %d", MaxDepth, got)
	}
	if got := CheckDepth(nested(MaxDepth+1), MaxDepth); got != 2 {
		t.Errorf("%d levels: line %d, want 2", MaxDepth+1, got)
	}
}

// TestNewDeepNestingBounded is fault 1: 20,000 nested inline tables took
// 66 s and 15.6 GB to index. A document nested deeper than MaxDepth is
// not indexed: time and memory stay linear in its size.
func TestNewDeepNestingBounded(t *testing.T) {
	for _, n := range []int{4000, 40000} {
		src := nested(n)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ix := New(src)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*uint64(len(src))+1<<20 {
			t.Errorf("%d levels (%d bytes): %d bytes allocated", n, len(src), alloc)
		}
		if len(ix.Keys()) != 0 {
			t.Errorf("%d levels: indexed %d keys", n, len(ix.Keys()))
		}
	}
}
