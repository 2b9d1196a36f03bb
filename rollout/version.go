package rollout

import (
	"errors"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// ErrBadVersion is returned (wrapped) for a version that cannot be read.
var ErrBadVersion = errors.New("not a semantic version")

// ParseReleaseVersion reads a release version from the config repo: a strict
// semantic version (MAJOR.MINOR.PATCH with optional -pre-release and
// +build), optionally prefixed with "v" or "V" as devices send it.
func ParseReleaseVersion(s string) (*semver.Version, error) {
	t := stripV(s)
	v, err := semver.StrictNewVersion(t)
	if err != nil {
		return nil, fmt.Errorf("%q: %w (%v)", s, ErrBadVersion, err)
	}
	return v, nil
}

// ParseDeviceVersion reads the version a device reports about itself. It is
// lenient, since sketches hard-code whatever their authors typed: a leading
// "v", and missing minor or patch parts ("1.2" is 1.2.0) are accepted.
func ParseDeviceVersion(s string) (*semver.Version, error) {
	t := stripV(strings.TrimSpace(s))
	if t == "" {
		return nil, fmt.Errorf("empty version: %w", ErrBadVersion)
	}
	v, err := semver.NewVersion(t)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, ErrBadVersion)
	}
	return v, nil
}

func stripV(s string) string {
	if len(s) > 1 && (s[0] == 'v' || s[0] == 'V') && s[1] >= '0' && s[1] <= '9' {
		return s[1:]
	}
	return s
}

// PlainVersion returns v as MAJOR.MINOR.PATCH, without a leading "v" or
// build metadata, and whether that form says all of v that orders it:
// false for a pre-release. Clients that read only plain versions need it:
// esp32FOTA reads "1.2.3" but takes "v1.2.3" and "1.2.3-rc.1" for 0.0.0
// (and so never updates to them), and holds each part in a C int, so a
// part above 2147483647 is refused too.
func PlainVersion(v *semver.Version) (string, bool) {
	const maxPart = 1<<31 - 1
	if v == nil || v.Prerelease() != "" || v.Major() > maxPart || v.Minor() > maxPart || v.Patch() > maxPart {
		return "", false
	}
	return fmt.Sprintf("%d.%d.%d", v.Major(), v.Minor(), v.Patch()), true
}
