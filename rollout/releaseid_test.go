package rollout

import (
	"errors"
	"testing"

	"github.com/Masterminds/semver/v3"
)

func TestIDOf(t *testing.T) {
	tests := []struct {
		platform, version string // version as semver.NewVersion reads it
		want              ReleaseID
	}{
		{"lamp", "1.1.0", ReleaseID{"lamp", "1.1.0"}},
		{"lamp", "v1.1.0", ReleaseID{"lamp", "1.1.0"}},
		{"Lamp", "1.1.0", ReleaseID{"lamp", "1.1.0"}},
		{"lamp", "1.1.0+build.7", ReleaseID{"lamp", "1.1.0"}},
		{"lamp", "v1.1.0+build.7", ReleaseID{"lamp", "1.1.0"}},
		{"lamp", "1.1", ReleaseID{"lamp", "1.1.0"}},
		{"lamp", "1", ReleaseID{"lamp", "1.0.0"}},
		{"lamp", "2.0.0-rc.1", ReleaseID{"lamp", "2.0.0-rc.1"}},
		{"lamp", "v2.0.0-rc.1+sha.abc", ReleaseID{"lamp", "2.0.0-rc.1"}},
		{"lamp", "2.0-rc.1", ReleaseID{"lamp", "2.0.0-rc.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.platform+"@"+tt.version, func(t *testing.T) {
			v, err := semver.NewVersion(tt.version)
			if err != nil {
				t.Fatal(err)
			}
			if got := IDOf(tt.platform, v); got != tt.want {
				t.Errorf("IDOf(%q, %q): got %#v, want %#v", tt.platform, tt.version, got, tt.want)
			}
			r := &Release{Platform: tt.platform, Version: v}
			if got := r.ID(); got != tt.want {
				t.Errorf("Release.ID(): got %#v, want %#v", got, tt.want)
			}
			if got, want := r.ID().String(), tt.want.Platform+"@"+tt.want.Version; got != want {
				t.Errorf("String(): got %q, want %q", got, want)
			}
		})
	}
}

func TestParseReleaseID(t *testing.T) {
	tests := []struct {
		platform, version string
		want              ReleaseID // zero: an error is wanted
	}{
		{"lamp", "1.1.0", ReleaseID{"lamp", "1.1.0"}},
		{"LAMP", "1.1.0", ReleaseID{"lamp", "1.1.0"}},
		{"lamp", "v1.1.0", ReleaseID{"lamp", "1.1.0"}},
		{"lamp", "1.1.0+build", ReleaseID{"lamp", "1.1.0"}},
		{"lamp", "v1.1.0+build.7-x", ReleaseID{"lamp", "1.1.0"}},
		{"lamp", "1.1", ReleaseID{"lamp", "1.1.0"}},
		{"lamp", " 1.1.0 ", ReleaseID{"lamp", "1.1.0"}},
		{"lamp", "10.20.30", ReleaseID{"lamp", "10.20.30"}},
		{"lamp", "0.0.0", ReleaseID{"lamp", "0.0.0"}},
		{"lamp", "2.0.0-rc.1", ReleaseID{"lamp", "2.0.0-rc.1"}},
		{"lamp", "v2.0.0-rc.1+b", ReleaseID{"lamp", "2.0.0-rc.1"}},
		{"lamp", "", ReleaseID{}},
		{"lamp", "v", ReleaseID{}},
		{"lamp", "1.1.0+", ReleaseID{}},
		{"lamp", "1.1.0+a..b", ReleaseID{}},
		{"lamp", "1.1.0+a_b", ReleaseID{}},
		{"lamp", "garbage", ReleaseID{}},
		{"lamp", "1.2.3.4", ReleaseID{}},
	}
	for _, tt := range tests {
		t.Run(tt.platform+"@"+tt.version, func(t *testing.T) {
			got, err := ParseReleaseID(tt.platform, tt.version)
			if tt.want == (ReleaseID{}) {
				if err == nil || !errors.Is(err, ErrBadVersion) || !got.IsZero() {
					t.Errorf("ParseReleaseID(%q, %q): got %#v, %v; want an error wrapping ErrBadVersion", tt.platform, tt.version, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseReleaseID(%q, %q): got %#v, %v; want %#v", tt.platform, tt.version, got, err, tt.want)
			}
		})
	}
}

// TestReleaseIDNoAlloc: the identities of releases and of stored records
// are taken on the request path (halts, offers), so the usual forms must
// not allocate.
func TestReleaseIDNoAlloc(t *testing.T) {
	for _, s := range []string{"1.1.0", "1.1.0+build.7", "2.0.0-rc.1", "2.0.0-rc.1+b"} {
		v, err := ParseReleaseVersion(s)
		if err != nil {
			t.Fatal(err)
		}
		r := &Release{Platform: "lamp", Version: v}
		if n := testing.AllocsPerRun(100, func() { _ = r.ID() }); n != 0 {
			t.Errorf("ID() of %s: %v allocations, want 0", s, n)
		}
	}
	for _, s := range []string{"1.1.0", "v1.1.0", "1.1.0+build.7"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = ParseReleaseID("lamp", s) }); n != 0 {
			t.Errorf("ParseReleaseID(lamp, %s): %v allocations, want 0", s, n)
		}
	}
}

func TestPlatformReleaseByID(t *testing.T) {
	p := &Platform{Name: "lamp", Releases: releases(t, "lamp", "1.2.0", "1.1.0+build.7")}
	id, _ := ParseReleaseID("lamp", "v1.1.0")
	if r := p.ReleaseByID(id); r == nil || r.Version.Original() != "1.1.0+build.7" {
		t.Errorf("ReleaseByID(%v): got %v, want release 1.1.0+build.7", id, r)
	}
	other, _ := ParseReleaseID("fan", "1.1.0")
	if r := p.ReleaseByID(other); r != nil {
		t.Errorf("ReleaseByID(%v): got %v, want nil", other, r.ID())
	}
	var none *Platform
	if r := none.ReleaseByID(id); r != nil {
		t.Errorf("nil platform: got %v, want nil", r.ID())
	}
}
