package config

import (
	"reflect"
	"testing"

	"github.com/BurntSushi/toml"
)

// plainSeeds are whitelists in and just outside decodePlain's subset.
var plainSeeds = []string{
	"",
	"# only a comment\n",
	"[[device]]\nmac = \"24:0A:C4:00:00:01\"\nplatform = \"lamp\" # a comment\nname = \"kitchen \tlamp\"\ngroups = [\"canary\", \"site-a\",]\n\n[[group]]\nname = \"canary\"\npin = \"1.0.0\"\n",
	"[[device]]\n\tmac=\"aabbccddeeff\"\ngroups = []\n[[device]]\n",
	"[[device]]\nname = \"Küche\"\n",
	"[[device]]\nmac = \"a\"\nmac = \"b\"\n",  // repeated key
	"mac = \"a\"\n",                           // outside a table
	"[[device]]\nname = \"a\\\"b\"\n",         // escape
	"[[device]]\nname = 'literal'\n",          // literal string
	"[[device]]\npin = 1\n",                   // integer
	"[[device]]\r\nmac = \"a\"\r\n",           // CRLF
	"[[ device ]]\n",                          // spaced header
	"[device]\nmac = \"a\"\n",                 // table, not array
	"[[device.x]]\n",                          // dotted header
	"[[device]]\na.b = \"c\"\n",               // dotted key
	"[[device]]\ngroups = [\"a\"\n, \"b\"]\n", // multi-line array
	"[[device]]\nname = \"a\" trailing\n",     // junk after a value
	"[[device]]\nname = \"\x01\"\n",           // control character
	"[[device]]\n# \x7f\n",                    // control in a comment
	"[[device]]\nname = \"\xff\"\n",           // invalid UTF-8
	"[[device]]\ngroups = [,]\n",
	"[[device]]\ngroups = [\"a\" \"b\"]\n",
	"[[device]]\n[[group]]\n[[device]]\nmac = \"x\"\n",
}

// checkPlain fails when decodePlain decodes src differently from
// BurntSushi/toml (or decodes what toml refuses).
func checkPlain(t *testing.T, src []byte) (decoded bool) {
	got, ok := decodePlain(src)
	if !ok {
		return false
	}
	var want map[string]any
	if _, err := toml.Decode(string(src), &want); err != nil {
		t.Fatalf("decodePlain took %q, which toml refuses: %v", src, err)
	}
	if len(got) == 0 && len(want) == 0 {
		return true
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\ndecodePlain %#v\ntoml        %#v", src, got, want)
	}
	return true
}

func TestDecodePlainAgreesWithTOML(t *testing.T) {
	took := 0
	for _, s := range plainSeeds {
		if checkPlain(t, []byte(s)) {
			took++
		}
	}
	// The subset must be what whitelists are written in.
	if took < 6 {
		t.Errorf("decodePlain took %d of the seeds, want the first 6", took)
	}
	src := fleetFilesIn(t, 2000, 1)["devices/fleet.toml"].Data
	if !checkPlain(t, src) {
		t.Error("decodePlain did not take a generated whitelist")
	}
}

// FuzzPlainTOML checks that wherever decodePlain decodes, it agrees with
// BurntSushi/toml.
func FuzzPlainTOML(f *testing.F) {
	for _, s := range plainSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) { checkPlain(t, src) })
}
