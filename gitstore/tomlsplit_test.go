package gitstore

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// TestParseParallelEqualsWhole: parsing in parts gives exactly what
// parsing the whole file gives, or declines.
func TestParseParallelEqualsWhole(t *testing.T) {
	var big strings.Builder
	big.WriteString("# fleet\n[[group]]\nname = \"canary\"\npin = \"1.0.0\"\n\n")
	for i := range 40000 {
		fmt.Fprintf(&big, "[[device]]  # entry %d\nmac = \"24:0A:C4:00:%02X:%02X\"\nplatform = \"lamp\"\ngroups = [\n  \"canary\",\n]\n\n", i, i>>8&0xFF, i&0xFF)
		if i == 20000 {
			big.WriteString("[[group]]\nname = \"late\"\n\n")
		}
	}
	tests := []struct {
		name  string
		src   string
		split bool
	}{
		{"big whitelist", big.String(), true},
		{"small file", "[[device]]\nmac = \"x\"\n", false},
		{"multi-line string", big.String() + "\n[[device]]\nname = \"\"\"\n[[device]]\n\"\"\"\n", false},
		{"header-like text in a value", strings.Replace(big.String(), "platform = \"lamp\"", "platform = \"[[device]]\"", 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var whole map[string]any
			if _, err := toml.Decode(tt.src, &whole); err != nil {
				t.Fatal(err)
			}
			got, ok := parseParallel([]byte(tt.src), "device")
			if ok != tt.split {
				t.Fatalf("split: got %v, want %v", ok, tt.split)
			}
			if ok && !reflect.DeepEqual(got, whole) {
				t.Errorf("parsed in parts differs from parsed whole")
			}
		})
	}
}

// TestParseParallelErrorsStillExact: a syntax error in a big file is
// reported by the whole-file parse, with its real line.
func TestParseParallelErrorsStillExact(t *testing.T) {
	files := fleetFiles(t, 30000)
	src := string(files["devices/fleet.toml"].Data)
	lines := strings.Split(src, "\n")
	lines[70001] = "mac = 24:0A" // a value that is not one
	files["devices/fleet.toml"].Data = []byte(strings.Join(lines, "\n"))
	_, probs := Load(files, ReadInspector{})
	if len(probs) != 1 || probs[0].File != "devices/fleet.toml" || probs[0].Line != 70002 {
		t.Errorf("problems: %v", probs)
	}
	// A duplicate MAC deep in the file has the right line too.
	lines = strings.Split(src, "\n")
	lines[100001] = lines[1]
	files["devices/fleet.toml"].Data = []byte(strings.Join(lines, "\n"))
	_, probs = Load(files, ReadInspector{})
	if len(probs) != 1 || probs[0].Line != 100002 || !strings.Contains(probs[0].String(), "already listed at devices/fleet.toml:2") {
		t.Errorf("problems: %v", probs)
	}
}
