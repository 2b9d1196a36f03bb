package tomlpos

import (
	"bytes"
	"testing"

	"github.com/BurntSushi/toml"
)

func FuzzNew(f *testing.F) {
	seeds := []string{docDevices, docTables, docReleases, docStrings,
		"a = 1\r\n", "\xEF\xBB\xBF[t]\nx = [\n1,\n]\n", "x = {", "[[", `"\u`,
		string(nested(MaxDepth + 1)), "m = \"\"\"\n[[[\\\n\"\"\"\"\n", "x = '''{{\n'''"}
	for _, doc := range append(seeds, edgeDocs...) {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		ix := New(src) // must not panic, whatever src is
		lines := bytes.Count(src, []byte("\n")) + 1
		deep := CheckDepth(src, 3)
		if deep < 0 || deep > lines {
			t.Fatalf("CheckDepth: line %d outside 1..%d", deep, lines)
		}
		if deep != 0 {
			// Not decoded: toml takes time quadratic in the depth.
			return
		}
		var v map[string]any
		md, err := toml.Decode(string(src), &v)
		if err != nil {
			return
		}
		for _, k := range ix.Keys() {
			if got := ix.Line(k); got < 1 || got > lines {
				t.Errorf("Line(%q): got %d, want 1..%d", k, got, lines)
			}
		}
		for _, p := range checkBurntSushi(ix, md, v) {
			t.Errorf("%s: got line 0, want > 0", p)
		}
	})
}
