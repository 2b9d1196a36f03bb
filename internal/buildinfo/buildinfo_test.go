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
}

func TestGetReadsThisBinary(t *testing.T) {
	// A test binary has build info; its main module is this one.
	if in := Get(); in.Version == "" || in.Version == "unknown" || in.GoVersion == "" {
		t.Errorf("Get: %+v", in)
	}
}
