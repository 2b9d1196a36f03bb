package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/rollout"
)

// bigWhitelist is a valid whitelist over splitMin with groups, pins,
// channels and comments, for validFiles' platforms.
func bigWhitelist(n int) string {
	var b strings.Builder
	b.WriteString("# fleet\n[[group]]\nname = \"canary\"\nchannel = \"beta\"\n\n")
	for i := range n {
		fmt.Fprintf(&b, "[[device]]  # entry %d\nmac = \"24:0A:C4:%02X:%02X:%02X\"\nplatform = \"lamp\"\nname = \"d%d\"\n", i, i>>16&0xFF, i>>8&0xFF, i&0xFF, i)
		switch i % 4 {
		case 1:
			b.WriteString("groups = [\n  \"canary\",\n]\n")
		case 2:
			b.WriteString("pin = \"1.0.0\"\nchannel = \"alpha\"\n")
		case 3:
			// nothing more
		}
		b.WriteString("\n")
		if i == n/2 {
			b.WriteString("[[group]]\nname = \"frozen\"\npin = \"1.1.0\"\n\n")
		}
	}
	return b.String()
}

// loadBoth loads files through the fast path (when it takes the file) and
// through the ordinary path only, and says whether the fast path was taken.
func loadBoth(t *testing.T, files fstest.MapFS) (fast, slow *rollout.Fleet, fastProbs, slowProbs Problems, took bool) {
	t.Helper()
	l := &loader{fsys: files, in: artifact.ReadInspector{}, blobs: map[string]blobResult{}}
	ff := l.readFast([]string{"devices/fleet.toml"}, map[string]*platform{"lamp": {}, "station": {}})
	_, _, took = l.fastWhitelist("devices/fleet.toml", ff[0], map[rollout.MAC]*table{}, map[string]groupEntry{})
	fast, fastProbs = Load(files, artifact.ReadInspector{})
	splitMinForTests = 1 << 62 // ordinary path only
	defer func() { splitMinForTests = 0 }()
	slow, slowProbs = Load(files, artifact.ReadInspector{})
	return fast, slow, fastProbs, slowProbs, took
}

func TestFastWhitelistEqualsOrdinary(t *testing.T) {
	files := validFiles(t)
	files["devices/fleet.toml"] = &fstest.MapFile{Data: []byte(bigWhitelist(30000))}
	fast, slow, fp, sp, took := loadBoth(t, files)
	if !took {
		t.Fatal("the fast path did not take a valid big whitelist")
	}
	if fast == nil || slow == nil || len(fp) != 0 || len(sp) != 0 {
		t.Fatalf("problems: fast %v, ordinary %v", fp, sp)
	}
	if !reflect.DeepEqual(fast.Devices(), slow.Devices()) {
		t.Error("devices differ between the fast and the ordinary path")
	}
	for _, name := range []string{"canary", "frozen"} {
		if !reflect.DeepEqual(fast.Group(name), slow.Group(name)) {
			t.Errorf("group %s differs", name)
		}
	}
	if n := len(fast.Devices()); n != 30000+3 {
		t.Errorf("devices: %d", n)
	}
}

// TestFastWhitelistFallsBack: anything unusual in a big whitelist makes
// the ordinary path load it, which reports it at its real line.
func TestFastWhitelistFallsBack(t *testing.T) {
	base := bigWhitelist(16000)
	lines := strings.Split(base, "\n")
	// after inserts a line after line i (1-based), inside some device table.
	after := func(i int, s string) string {
		l := copyLines(lines)
		l = append(l[:i], append([]string{s}, l[i:]...)...)
		return strings.Join(l, "\n")
	}
	tests := []struct {
		name, src, want string
	}{
		{"syntax error", after(40000, "serial = 24:0A"), "devices/fleet.toml:40001: TOML syntax"},
		{"unknown key", after(40000, "colour = \"red\""), "devices/fleet.toml:40001: device["},
		{"bad MAC", strings.Replace(base, "\"24:0A:C4:00:10:00\"", "\"24:0A:C4:00:10\"", 1), "is not a MAC address"},
		{"duplicate MAC", strings.Replace(base, "\"24:0A:C4:00:10:00\"", "\"24:0A:C4:00:00:05\"", 1), "already listed at devices/fleet.toml:"},
		{"unknown platform", strings.Replace(base, "platform = \"lamp\"\nname = \"d99\"", "platform = \"toaster\"\nname = \"d99\"", 1), "unknown platform \"toaster\""},
		{"duplicate group", base + "\n[[group]]\nname = \"canary\"\n", "group \"canary\" is already defined"},
		{"group listed twice", strings.Replace(base, "groups = [\n  \"canary\",\n]", "groups = [\"canary\", \"canary\"]", 1), "listed twice"},
		{"multi-line string", base + "\n[[device]]\nmac = \"24:0A:C4:FF:FF:FF\"\nplatform = \"lamp\"\nname = \"\"\"x\n[[device]]\"\"\"\nfloors = 3\n", "floors: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := validFiles(t)
			files["devices/fleet.toml"] = &fstest.MapFile{Data: []byte(tt.src)}
			_, _, fp, sp, took := loadBoth(t, files)
			if took {
				t.Fatal("the fast path took a whitelist with a problem")
			}
			if len(fp) == 0 || !reflect.DeepEqual(fp, sp) || !strings.Contains(fmt.Sprint(fp), tt.want) {
				t.Errorf("problems: %v, want one with %q", fp, tt.want)
			}
		})
	}
}

func TestSplitAtHeaders(t *testing.T) {
	src := []byte(bigWhitelist(20000))
	parts := splitAtHeaders(src, "[[device]]", 8)
	if len(parts) < 2 || !bytes.Equal(bytes.Join(parts, nil), src) {
		t.Fatalf("%d parts that do not join back to the source", len(parts))
	}
	for i, p := range parts[1:] {
		if !bytes.HasPrefix(p, []byte("[[device]]")) {
			t.Errorf("part %d does not start at a header: %q", i+1, p[:20])
		}
	}
	if p := splitAtHeaders(append([]byte("x = '''\n'''\n"), src...), "[[device]]", 8); p != nil {
		t.Error("split a file with a multi-line string")
	}
}

func copyLines(l []string) []string { return append([]string(nil), l...) }

// TestFastWhitelistNames: a name already taken in a big whitelist the
// fast path read is reported with the line where it was taken, as the
// ordinary path reports it.
func TestFastWhitelistNames(t *testing.T) {
	files := validFiles(t)
	files["devices/fleet.toml"] = &fstest.MapFile{Data: []byte(bigWhitelist(16000))}
	files["devices/site/garden.toml"] = &fstest.MapFile{Data: []byte("[[device]]\nmac = \"aabbccddee03\"\nplatform = \"station\"\nname = \"D5\"\n")}
	_, _, fp, sp, took := loadBoth(t, files)
	if !took {
		t.Fatal("the fast path did not take a valid big whitelist")
	}
	// The line of d5's name in the big whitelist.
	line := 1 + strings.Count(strings.Split(bigWhitelist(16000), "name = \"d5\"\n")[0], "\n")
	want := fmt.Sprintf(`devices/site/garden.toml:4: device[0].name: name "D5" is already the name of device 24:0A:C4:00:00:05 at devices/fleet.toml:%d: devices are looked up by name, so names must be unique`, line)
	if len(fp) != 1 || fp[0].String() != want || !reflect.DeepEqual(fp, sp) {
		t.Errorf("problems:\nfast     %v\nordinary %v\nwant     %s", fp, sp, want)
	}
}
