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
