package rollout

import (
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// ReleaseID identifies a release across commits, restarts and stored
// records: its platform and its version without build metadata, which
// semver ignores when comparing versions ("1.2.0+a" and "1.2.0+b" are one
// release). Halts, outcome counts and offers are matched on it. It is a
// comparable value, meant for map keys; the zero ReleaseID names no
// release.
//
// Build one with IDOf, Release.ID or ParseReleaseID, never field by field:
// they are what keeps its two fields in one form.
type ReleaseID struct {
	// Platform is the platform's name in lower case.
	Platform string
	// Version is the version in its canonical form: no leading "v", no
	// build metadata, e.g. "1.2.0" or "2.0.0-rc.1".
	Version string
}

// IDOf returns the identity of the release v of platform. It does not
// allocate when platform is lower case and v was written canonically, as
// release versions read by ParseReleaseVersion are (build metadata aside).
func IDOf(platform string, v *semver.Version) ReleaseID {
	return ReleaseID{Platform: strings.ToLower(platform), Version: VersionKey(v)}
}

// ParseReleaseID reads a release identity from text: a platform name and a
// version as devices, URLs and stored records give them ("V1.2", "1.2.0",
// "1.2.0+build.7"). The version is read as ParseDeviceVersion reads it, so
// that "v1.2" and "1.2.0+build.7" both name release 1.2.0. It does not
// allocate for a lower-case platform and a version that is canonical but
// for a leading "v" and build metadata, which is what stored records hold.
func ParseReleaseID(platform, version string) (ReleaseID, error) {
	if s, ok := canonicalText(version); ok {
		return ReleaseID{Platform: strings.ToLower(platform), Version: s}, nil
	}
	v, err := ParseDeviceVersion(version)
	if err != nil {
		return ReleaseID{}, err
	}
	return IDOf(platform, v), nil
}

// IsZero reports whether id is the zero ReleaseID, which names no release.
func (id ReleaseID) IsZero() bool { return id == ReleaseID{} }

// String returns "platform@version", for logs and messages.
func (id ReleaseID) String() string { return id.Platform + "@" + id.Version }

// VersionKey is v in its canonical form without build metadata: the
// Version of a ReleaseID. It returns v as written (without allocating)
// when that is the canonical form.
func VersionKey(v *semver.Version) string {
	s := stripV(v.Original())
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	// The canonical form is MAJOR.MINOR.PATCH[-PRERELEASE] with no leading
	// zeros; built on the stack, so that the comparison costs nothing.
	var buf [64]byte
	core := strconv.AppendUint(buf[:0], v.Major(), 10)
	core = append(core, '.')
	core = strconv.AppendUint(core, v.Minor(), 10)
	core = append(core, '.')
	core = strconv.AppendUint(core, v.Patch(), 10)
	pre := v.Prerelease()
	n := len(core)
	if pre != "" {
		n += 1 + len(pre)
	}
	if len(s) == n && s[:len(core)] == string(core) && (pre == "" || (s[len(core)] == '-' && s[len(core)+1:] == pre)) {
		return s
	}
	if pre == "" {
		return string(core)
	}
	return string(core) + "-" + pre
}

// canonicalText returns s without a leading "v" and build metadata when
// what is left is a canonical MAJOR.MINOR.PATCH, which is then also what
// VersionKey(ParseDeviceVersion(s)) returns (the fuzz test checks). Other
// forms (pre-releases, "1.2", spaces) are left to the parser.
func canonicalText(s string) (string, bool) {
	s = stripV(s)
	if len(s) > semver.MaxVersionLen {
		return "", false // the parser refuses it
	}
	if i := strings.IndexByte(s, '+'); i >= 0 {
		if !validMetadata(s[i+1:]) {
			return "", false
		}
		s = s[:i]
	}
	parts, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			continue
		}
		if i < len(s) && s[i] != '.' {
			return "", false
		}
		n := i - start
		// Non-empty, no leading zero, and short enough for a uint64.
		if n == 0 || n > 18 || (n > 1 && s[start] == '0') {
			return "", false
		}
		parts++
		start = i + 1
	}
	return s, parts == 3
}

// validMetadata reports whether s is valid semver build metadata:
// dot-separated, non-empty identifiers of ASCII letters, digits and
// hyphens.
func validMetadata(s string) bool {
	atStart := true // of an identifier, which must not be empty
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if atStart {
				return false
			}
			atStart = true
		case c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-':
			atStart = false
		default:
			return false
		}
	}
	return !atStart
}
