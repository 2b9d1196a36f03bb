package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.25.0", Main: debug.Module{Path: "github.com/otagit/otagit", Version: "v1.2.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-11-01T08:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
			{Key: "CGO_ENABLED", Value: "0"},
		}}
	in := FromBuildInfo(bi)
	if got, want := in.String(), "v1.2.0 0123456789ab 2026-11-01T08:00:00Z modified"; got != want {
		t.Errorf("String: got %q, want %q", got, want)
	}
	if in.GoVersion != "go1.25.0" || !in.Modified {
		t.Errorf("got %+v", in)
	}
	if got := FromBuildInfo(&debug.BuildInfo{}).String(); got != "(devel)" {
		t.Errorf("no version, no VCS: got %q, want (devel)", got)
	}
	if got := FromBuildInfo(nil).String(); got != "unknown" {
		t.Errorf("no build info: got %q", got)
	}
	// -ldflags -X fills in what a build without .git lacks, and never
	// hides what the toolchain recorded.
	if got := stamp(FromBuildInfo(&debug.BuildInfo{}), "v1.3.0", "abc").String(); got != "v1.3.0 abc" {
		t.Errorf("stamped devel build: got %q", got)
	}
	if got := stamp(in, "v9.9.9", "abc").String(); got != in.String() {
		t.Errorf("stamp over a recorded version: got %q, want %q", got, in.String())
	}
}

func TestGetReadsThisBinary(t *testing.T) {
	// A test binary has build info; its main module is this one.
	if in := Get(); in.Version == "" || in.Version == "unknown" || in.GoVersion == "" {
		t.Errorf("Get: %+v", in)
	}
}
