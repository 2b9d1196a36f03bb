package buildinfo

import (
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Info is what the Go toolchain recorded about a build.
type Info struct {
	// Version is the main module's version, e.g. "v1.2.0" for a binary
	// built by `go install ...@v1.2.0`; "(devel)" for one built in a work
	// tree.
	Version string `json:"version"`
	// Revision is the VCS commit the binary was built from, "" if unknown
	// (no VCS stamp, e.g. go install or -buildvcs=false).
	Revision string `json:"revision,omitempty"`
	// Time is the commit time of Revision, zero if unknown.
	Time time.Time `json:"revision_time,omitzero"`
	// Modified is true when the work tree had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go_version"`
}

// FromBuildInfo reads an Info out of what runtime/debug reports; bi nil
// (a binary without build info) gives Version "unknown".
func FromBuildInfo(bi *debug.BuildInfo) Info {
	if bi == nil {
		return Info{Version: "unknown"}
	}
	in := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time, _ = time.Parse(time.RFC3339, s.Value)
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

var (
	once sync.Once
	info Info
)

// version and revision, when set at link time (-ldflags "-X
// github.com/otagit/otagit/internal/buildinfo.version=v1.2.0"), stand in
// for what the toolchain cannot record: a build from a source tree without
// .git, such as the Dockerfile's, has neither a module version nor a VCS
// stamp.
var version, revision string

// Get returns this binary's Info; it reads the build info once.
func Get() Info {
	once.Do(func() {
		bi, _ := debug.ReadBuildInfo()
		info = stamp(FromBuildInfo(bi), version, revision)
	})
	return info
}

// stamp overrides in's version and revision with those set at link time.
func stamp(in Info, version, revision string) Info {
	if version != "" && (in.Version == "(devel)" || in.Version == "unknown") {
		in.Version = version
	}
	if revision != "" && in.Revision == "" {
		in.Revision = revision
	}
	return in
}

// String is the one-line form: "v1.2.0", or "(devel) 0123abcd4567
// 2026-11-01T08:00:00Z modified" with whatever of the revision is known.
func (in Info) String() string {
	parts := []string{in.Version}
	if in.Revision != "" {
		parts = append(parts, in.Short())
	}
	if !in.Time.IsZero() {
		parts = append(parts, in.Time.UTC().Format(time.RFC3339))
	}
	if in.Modified {
		parts = append(parts, "modified")
	}
	return strings.Join(parts, " ")
}

// Short is the revision's first 12 characters, "" if unknown.
func (in Info) Short() string {
	if len(in.Revision) > 12 {
		return in.Revision[:12]
	}
	return in.Revision
}
