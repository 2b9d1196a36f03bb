package tomlpos

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// Documents used by several tests. Every one is valid TOML.
var (
	docDevices = `# devices
[[device]]
name = "a"
mac = "00:11"

[[device]]
name = "b"
mac = "00:12"

[[device]]
name = "c"
# mac = "commented"
mac = "00:13"
`

	docTables = `chip = "rk3588" # comment with = and [x]
owner.name = "tom"
owner.email = 'tom@example.com'

[server]
host = "h"
port = 1

[server.tls]
cert = "c"

[ "quoted . table" ]
"a.b" = 1
'lit"key' = 2
"esc\"aped" = 3
"" = 4
"\u0041" = 5
`

	docReleases = `[[release]]
version = "1.0"

[[release.asset]]
name = "a0"

[[release]]
version = "1.2"
stages = [
  { percent = 10 },  # first
  {
    percent = 50,
    hold = "1h",
  },
  { percent = 100, }, # trailing comma (TOML 1.1)
]

[[release.asset]]
name = "b0"
[[release.asset]]
name = "b1"
[[release.asset]]
name = "b2"

[release.meta]
note = 1
`

	docStrings = `a = """
[[fake]]
key = 1
# not a comment "" \""" still inside
"""
b = '''
[fake2]
x = 2 '' '
'''
c = "a \" # b"
d = 'c:\path # [x]'
e = """quote at end"""""
f = 1
g = [
  1, # one
  [2, 3],
  "s, ]",
  1979-05-27 07:32:00Z,
  1979-05-27T07:32:00,
]
h = { x = { y = [ { z = 1 } ] } }
`
)

// Small valid documents with awkward syntax, for cross-checks and fuzz seeds.
var edgeDocs = []string{
	"\"a b\".\"c\\td\" = 1\n[\"x.y\".z]\nw = [{ 'v\"' = 1 }]\n",
	`s = """"""""` + "\nt = ''''''''\nu = 1\n",
	"s = \"\"\"a\\\n  b\\\"\"\"\"\"\nk = { x = \"}\", y = ']' }\n",
	"[a]\n[[a.b]]\n[a.b.c]\nd = 1\n[[a.b]]\n[a.b.c]\nd = 2\n",
	"x = [[1, 2], [{a = 1}, {b = [{c = 2}]}], []]\n",
	"t = 07:32:00\nd = 1979-05-27\nz = 1979-05-27 07:32:00.5+01:00 # c\n",
	"a = [ # c\n\n  # c\n  1 , # c\n  2 # c\n  , # c\n] # c\n",
	"[ a . 'b.c' . \"d\" ]\n\"\" = { \"\" = 1 }\n",
	"n = [inf, -inf, nan, +1_000, 0x1F, 0o7, 0b1, 1e3, -0.5, true, false]\n",
	"i = {\n  a = 1, # c\n  b.c = 2\n}\n",
}

func TestLine(t *testing.T) {
	tests := []struct {
		doc  string
		path string
		want int
	}{
		{docDevices, "device", 2},
		{docDevices, "device[0]", 2},
		{docDevices, "device[0].mac", 4},
		{docDevices, "device[1]", 6},
		{docDevices, "device[1].name", 7},
		{docDevices, "device[2]", 10},
		{docDevices, "device[2].mac", 13},
		{docDevices, "device[3]", 0},
		{docDevices, "device[3].mac", 0},
		{docDevices, "mac", 0},

		{docTables, "chip", 1},
		{docTables, "owner", 2},
		{docTables, "owner.name", 2},
		{docTables, "owner.email", 3},
		{docTables, "server", 5},
		{docTables, "server.port", 7},
		{docTables, "server.tls", 9},
		{docTables, "server.tls.cert", 10},
		{docTables, `"quoted . table"`, 12},
		{docTables, `"quoted . table"."a.b"`, 13},
		{docTables, `'quoted . table'.'a.b'`, 0},    // no single quotes in paths
		{docTables, `"quoted . table".lit"key`, 14}, // lenient: normalised
		{docTables, `"quoted . table"."lit\"key"`, 14},
		{docTables, `"quoted . table"."esc\"aped"`, 15},
		{docTables, `"quoted . table".""`, 16},
		{docTables, `"quoted . table".A`, 17},
		{docTables, `"quoted . table"."\u0041"`, 17},
		{docTables, "quoted . table", 0},
		{docTables, toml.Key{"quoted . table", `lit"key`}.String(), 14},
		{docTables, toml.Key{"server", "tls"}.String(), 9},
		{docTables, "server.host.x", 0},

		{docReleases, "release", 1},
		{docReleases, "release[0].version", 2},
		{docReleases, "release[0].asset", 4},
		{docReleases, "release[0].asset[0].name", 5},
		{docReleases, "release[1]", 7},
		{docReleases, "release[1].version", 8},
		{docReleases, "release[1].stages", 9},
		{docReleases, "release[1].stages[0]", 10},
		{docReleases, "release[1].stages[0].percent", 10},
		{docReleases, "release[1].stages[1]", 11},
		{docReleases, "release[1].stages[1].percent", 12},
		{docReleases, "release[1].stages[1].hold", 13},
		{docReleases, "release[1].stages[2].percent", 15},
		{docReleases, "release[1].stages[3]", 0},
		{docReleases, "release[1].asset", 18},
		{docReleases, "release[1].asset[0].name", 19},
		{docReleases, "release[1].asset[2]", 22},
		{docReleases, "release[1].asset[2].name", 23},
		{docReleases, "release[1].meta.note", 26},
		{docReleases, "release[0].meta", 0},
		{docReleases, "release.version", 0},

		{docStrings, "a", 1},
		{docStrings, "fake", 0},
		{docStrings, "key", 0},
		{docStrings, "b", 6},
		{docStrings, "fake2", 0},
		{docStrings, "x", 0},
		{docStrings, "c", 10},
		{docStrings, "d", 11},
		{docStrings, "e", 12},
		{docStrings, "f", 13},
		{docStrings, "g", 14},
		{docStrings, "g[1]", 16},
		{docStrings, "g[1][1]", 16},
		{docStrings, "g[2]", 17},
		{docStrings, "g[3]", 18},
		{docStrings, "g[4]", 19},
		{docStrings, "g[5]", 0},
		{docStrings, "h.x.y[0].z", 21},

		{"\xEF\xBB\xBFa = 1\r\n[t]\r\nb = '''x\r\ny'''\r\nc = [\r\n  1,\r\n  { d = 2 },\r\n]\r\n", "a", 1},
		{"\xEF\xBB\xBFa = 1\r\n[t]\r\nb = '''x\r\ny'''\r\nc = [\r\n  1,\r\n  { d = 2 },\r\n]\r\n", "t.c[1].d", 7},
		{"x = 1", "x", 1},
		{"x = 1", "", 0},
		{"", "x", 0},
		{"[a.b.c]\nx = 1\n[a]\ny = 2\n", "a", 3},   // definition beats implicit mention
		{"[a.b.c]\nx = 1\n[a]\ny = 2\n", "a.b", 1}, // only implied
		{"[[a]]\n[[a.b]]\n[[a]]\n[[a.b]]\nx=1\n", "a[0].b", 2},
		{"[[a]]\n[[a.b]]\n[[a]]\n[[a.b]]\nx=1\n", "a[1].b", 4},
		{"[[a]]\n[[a.b]]\n[[a]]\n[[a.b]]\nx=1\n", "a[1].b[0].x", 5},
		{"[[a]]\n[[a.b]]\n[[a]]\n[[a.b]]\nx=1\n", "a[0].b[0].x", 0},
		{"p.q.r = 1\n", "p.q", 1},
		{"d = 1979-05-27 07:32:00Z\ne = 2\n", "e", 2},
		{edgeDocs[1], "u", 3},
		{edgeDocs[2], "k.y", 3},
		{edgeDocs[3], "a.b[1].c.d", 7},
		{edgeDocs[4], "x[1][1].b[0].c", 1},
		{edgeDocs[6], "a[1]", 5},
		{edgeDocs[7], `a."b.c".d."".""`, 2},
		{edgeDocs[9], "i.b.c", 3},
	}
	for _, tt := range tests {
		if got := New([]byte(tt.doc)).Line(tt.path); got != tt.want {
			t.Errorf("Line(%q) in %.30q...: got %d, want %d", tt.path, tt.doc, got, tt.want)
		}
	}
}

func TestValidFixtures(t *testing.T) {
	for i, doc := range []string{docDevices, docTables, docReleases, docStrings} {
		var v any
		if _, err := toml.Decode(doc, &v); err != nil {
			t.Errorf("doc %d is not valid TOML: %v", i, err)
		}
	}
}

func TestKeys(t *testing.T) {
	doc := "b = 1\n[[t]]\nx = { y = 2 }\n[[t]]\na.c = [3]\n"
	want := []string{"b", "t", "t[0]", "t[0].x", "t[0].x.y", "t[1]", "t[1].a", "t[1].a.c", "t[1].a.c[0]"}
	if got := New([]byte(doc)).Keys(); !reflect.DeepEqual(got, want) {
		t.Errorf("Keys: got %q, want %q", got, want)
	}
}

func TestNil(t *testing.T) {
	var ix *Index
	if got := ix.Line("a"); got != 0 {
		t.Errorf("nil Line: got %d, want 0", got)
	}
	if got := ix.Keys(); got != nil {
		t.Errorf("nil Keys: got %q, want nil", got)
	}
	if got := new(Index).Line("a"); got != 0 {
		t.Errorf("zero Line: got %d, want 0", got)
	}
}

func TestQuoteKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"with space", "with space"},
		{"a.b", `"a.b"`},
		{"x[0]", `"x[0]"`},
		{`q"uote`, `"q\"uote"`},
		{`back\slash`, `back\slash`},
		{`dot.back\slash`, `"dot.back\\slash"`},
		{"", `""`},
		{"tab\t.", `"tab\u0009."`},
	}
	for _, tt := range tests {
		if got := QuoteKey(tt.in); got != tt.want {
			t.Errorf("QuoteKey(%q): got %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestBurntSushiKeys checks that every key BurntSushi/toml reports is
// indexed: directly, or with array indexes when it lies inside an array of
// tables. It also walks the decoded values, which include the indexes, and
// checks each of those paths has a line.
func TestBurntSushiKeys(t *testing.T) {
	docs := append([]string{docDevices, docTables, docReleases, docStrings}, edgeDocs...)
	for i, doc := range docs {
		var v map[string]any
		md, err := toml.Decode(doc, &v)
		if err != nil {
			t.Fatalf("doc %d: %v", i, err)
		}
		ix := New([]byte(doc))
		for _, p := range checkBurntSushi(ix, md, v) {
			t.Errorf("doc %d: %s: got line 0, want > 0", i, p)
		}
	}
}

// checkBurntSushi returns the paths known to BurntSushi/toml that ix has no
// line for.
func checkBurntSushi(ix *Index, md toml.MetaData, v map[string]any) []string {
	var missing []string
	stripped := map[string]bool{}
	for _, k := range ix.Keys() {
		stripped[stripIndexes(k)] = true
	}
	for _, k := range md.Keys() {
		if !stripped[stripIndexes(k.String())] {
			missing = append(missing, "meta key "+k.String())
		}
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		if path != "" && ix.Line(path) == 0 {
			missing = append(missing, "value "+path)
		}
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(join(path, k), e)
			}
		case []map[string]any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("", v)
	slices.Sort(missing)
	return missing
}

// stripIndexes removes array indexes from a canonical path and
// re-canonicalises it, so that it compares with toml.Key.String.
func stripIndexes(path string) string {
	var b strings.Builder
	inQuote, inIndex := false, false
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case inQuote && c == '\\':
			b.WriteByte(c)
			i++
			if i < len(path) {
				b.WriteByte(path[i])
			}
			continue
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == '[':
			inIndex = true
		case inIndex:
			inIndex = c != ']'
			continue
		}
		if !inIndex {
			b.WriteByte(c)
		}
	}
	s, _ := canonical(b.String())
	return s
}
