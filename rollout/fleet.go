package rollout

import (
	"fmt"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Fleet is what one config commit says about platforms, releases and
// devices. Build it with NewFleet; after that neither the Fleet nor anything
// it points to may be modified, which makes it safe for concurrent use.
type Fleet struct {
	platforms map[string]*Platform // by lower-case name
	devices   map[MAC]*Device
	// versions maps every release version string, with and without a leading
	// "v", to its parsed value, so that reading the version a device reports
	// is usually a map lookup rather than a parse.
	versions map[string]*semver.Version
	sortedP  []*Platform
	sortedD  []*Device
}

// Platform is a kind of device that runs one firmware line, e.g. "smart-lamp".
type Platform struct {
	// Name is the lower-case platform name (the config file's base name).
	Name string
	// Chip is the chip family the firmware is built for, e.g. "esp32c3".
	Chip string
	// Description is free text for operators.
	Description string
	// Releases are the platform's firmware releases, newest first.
	Releases []*Release
}

// Release is one firmware version of a platform.
type Release struct {
	// Platform is the name of the platform the release belongs to.
	Platform string
	// Version is the release's semantic version.
	Version *semver.Version
	// Artifact is the binary devices download.
	Artifact Artifact
}

// Artifact describes a firmware binary and where it is served from.
type Artifact struct {
	// Path is the binary's path inside the config repository.
	Path string
	// File is the local file the binary is served from; empty when the
	// binary was only checked, not stored (as by `otagit validate`).
	File string
	// Size is the binary's length in bytes.
	Size int64
	// SHA256 and MD5 are lower-case hex digests of the binary.
	SHA256 string
	MD5    string
}

// Device is a whitelisted device.
type Device struct {
	// MAC is the device's station MAC address.
	MAC MAC
	// Platform is the lower-case name of the platform the device runs.
	Platform string
	// Name is an optional human name, e.g. "kitchen lamp".
	Name string
}

// NewFleet indexes platforms and devices into a Fleet. It sorts each
// platform's releases newest first. It returns an error for duplicate
// platform names, duplicate release versions, duplicate MACs and devices on
// unknown platforms; callers that load config report those with file and
// line before getting here, so an error from NewFleet is a bug in the caller.
func NewFleet(platforms []*Platform, devices []*Device) (*Fleet, error) {
	f := &Fleet{
		platforms: make(map[string]*Platform, len(platforms)),
		devices:   make(map[MAC]*Device, len(devices)),
		versions:  make(map[string]*semver.Version),
	}
	for _, p := range platforms {
		key := strings.ToLower(p.Name)
		if _, dup := f.platforms[key]; dup {
			return nil, fmt.Errorf("platform %q defined twice", p.Name)
		}
		f.platforms[key] = p
		slices.SortStableFunc(p.Releases, func(a, b *Release) int { return b.Version.Compare(a.Version) })
		for i, r := range p.Releases {
			if i > 0 && r.Version.Equal(p.Releases[i-1].Version) {
				return nil, fmt.Errorf("platform %q: version %s released twice", p.Name, r.Version)
			}
			s := r.Version.String()
			f.versions[s] = r.Version
			f.versions["v"+s] = r.Version
		}
		f.sortedP = append(f.sortedP, p)
	}
	for _, d := range devices {
		if _, dup := f.devices[d.MAC]; dup {
			return nil, fmt.Errorf("device %s listed twice", d.MAC)
		}
		if _, ok := f.platforms[strings.ToLower(d.Platform)]; !ok {
			return nil, fmt.Errorf("device %s: unknown platform %q", d.MAC, d.Platform)
		}
		f.devices[d.MAC] = d
		f.sortedD = append(f.sortedD, d)
	}
	slices.SortFunc(f.sortedP, func(a, b *Platform) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(f.sortedD, func(a, b *Device) int { return compareMAC(a.MAC, b.MAC) })
	return f, nil
}

// Platform returns the platform with the given name, matched
// case-insensitively, or nil.
func (f *Fleet) Platform(name string) *Platform {
	if f == nil {
		return nil
	}
	// strings.ToLower returns name itself, without allocating, when it has
	// no upper-case letters, which is the common case.
	return f.platforms[strings.ToLower(name)]
}

// Device returns the whitelist entry for mac, or nil.
func (f *Fleet) Device(mac MAC) *Device {
	if f == nil {
		return nil
	}
	return f.devices[mac]
}

// Platforms returns all platforms sorted by name. The slice is shared:
// callers must not modify it.
func (f *Fleet) Platforms() []*Platform {
	if f == nil {
		return nil
	}
	return f.sortedP
}

// Devices returns all whitelisted devices sorted by MAC. The slice is
// shared: callers must not modify it.
func (f *Fleet) Devices() []*Device {
	if f == nil {
		return nil
	}
	return f.sortedD
}

// ParseDeviceVersion is ParseDeviceVersion with a fast path for the version
// strings of this fleet's releases, which are what devices usually report.
func (f *Fleet) ParseDeviceVersion(s string) (*semver.Version, error) {
	if f != nil {
		if v, ok := f.versions[s]; ok {
			return v, nil
		}
	}
	return ParseDeviceVersion(s)
}

// Release returns the platform's release with exactly version v, or nil.
func (p *Platform) Release(v *semver.Version) *Release {
	for _, r := range p.Releases {
		if r.Version.Equal(v) {
			return r
		}
	}
	return nil
}

func compareMAC(a, b MAC) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}
