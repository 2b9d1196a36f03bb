package config

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/otagit/otagit/artifact"
)

// memberWhitelist is a valid whitelist of n lamps over splitMin (read in
// parts), every third in group "shared", defined in another file, and
// every fifth with a channel of its own.
func memberWhitelist(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[[device]]\nmac = \"24:0A:C4:%02X:%02X:%02X\"\nplatform = \"lamp\"\nname = \"m%d\"\n", i>>16&0xFF, i>>8&0xFF, i&0xFF, i)
		if i%3 == 0 {
			b.WriteString("groups = [\"shared\"]\n")
		}
		if i%5 == 0 {
			b.WriteString("channel = \"alpha\"\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestWhitelistMemoLoadsAsFullLoad loads a base and then a head through
// one WhitelistMemo, as otagit plan does, and checks each against a load
// without it: same fleet, same problems (also those found at devices of a
// shared file), the base untouched by the head's load, and only the
// whitelists that differ parsed again. The heads change what a group
// gives its devices, which the load writes into the devices of another
// file: a memo that handed out its devices would carry the base's
// settings into the head.
func TestWhitelistMemoLoadsAsFullLoad(t *testing.T) {
	base := validFiles(t)
	base["devices/fleet.toml"] = &fstest.MapFile{Data: []byte(memberWhitelist(12000))}
	base["devices/groups.toml"] = &fstest.MapFile{Data: []byte("[[group]]\nname = \"shared\"\nchannel = \"beta\"\n")}
	with := func(change func(fstest.MapFS)) fstest.MapFS {
		head := maps.Clone(base)
		change(head)
		return head
	}
	groups := func(s string) func(fstest.MapFS) {
		return func(h fstest.MapFS) { h["devices/groups.toml"] = &fstest.MapFile{Data: []byte(s)} }
	}
	for _, tc := range []struct {
		name     string
		head     fstest.MapFS
		reparsed int // whitelists the head's load parses
	}{
		{"group pins and changes channel", with(groups("[[group]]\nname = \"shared\"\npin = \"1.0.0\"\nchannel = \"alpha\"\n")), 1},
		{"group pins a missing release", with(groups("[[group]]\nname = \"shared\"\npin = \"9.9.9\"\n")), 1},
		{"group gone", with(func(h fstest.MapFS) { delete(h, "devices/groups.toml") }), 0},
		{"unchanged", base, 0},
		// Other platform names: every whitelist is read again, since
		// whether a device's platform exists is part of what it read.
		{"platform gone", with(func(h fstest.MapFS) { delete(h, "platforms/station.toml") }), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			load := func(files fstest.MapFS, memo *WhitelistMemo) Result {
				return LoadTree(files, LoadOptions{Inspector: artifact.ReadInspector{}, Whitelists: memo})
			}
			memo := NewWhitelistMemo()
			b := load(base, memo)
			inMemo := memoSize(memo)
			h := load(tc.head, memo)
			fullBase, fullHead := load(base, nil), load(tc.head, nil)
			if fullBase.Fleet == nil {
				t.Fatalf("base: %v", fullBase.Problems)
			}
			same(t, "base", b, fullBase)
			same(t, "head", h, fullHead)
			if got := memoSize(memo) - inMemo; got != tc.reparsed {
				t.Errorf("the head's load parsed %d whitelists, want %d", got, tc.reparsed)
			}
		})
	}
}

// same reports where a load through a memo differs from a full load.
func same(t *testing.T, what string, got, want Result) {
	t.Helper()
	if g, w := fmt.Sprint(got.Problems), fmt.Sprint(want.Problems); g != w {
		t.Errorf("%s: problems with the memo:\n%s\nwithout:\n%s", what, g, w)
	}
	if !reflect.DeepEqual(got.Fleet, want.Fleet) {
		t.Errorf("%s: the fleet loaded with the memo differs from a full load", what)
	}
}

// memoSize is the number of whitelists memo keeps.
func memoSize(memo *WhitelistMemo) int {
	n := 0
	for _, fs := range memo.files {
		n += len(fs)
	}
	return n
}
