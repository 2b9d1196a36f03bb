package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
)

// Fleet is what one config commit says about platforms, releases and
// devices. Build it with NewFleet; after that neither the Fleet nor anything
// it points to may be modified, which makes it safe for concurrent use.
type Fleet struct {
	platforms map[string]*Platform // by lower-case name
	devices   map[MAC]*Device
	names     map[string]*Device // by lower-case name; devices without one are not here
	groups    map[string]*Group
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
	// Paused stops every offer on the platform: devices get 304.
	Paused bool
	// NoRollback keeps devices on a yanked release where they are instead
	// of offering them an older release.
	NoRollback bool
	// Anonymous serves devices that are in no whitelist and give no MAC
	// (esp32FOTA and ESPHome manifests fetched without an id; see
	// Request.Anonymous). Decide takes such a device for one of the
	// platform with no settings of its own (stable channel, no groups, no
	// pin), in a stage's cohort only once the stage reaches 100%.
	Anonymous bool

	anonymous Device // the device an anonymous request stands for; set by NewFleet
}

// Release is one firmware version of a platform.
type Release struct {
	// Platform is the name of the platform the release belongs to.
	Platform string
	// Version is the release's semantic version.
	Version *semver.Version
	// Artifact is the application image devices download.
	Artifact Artifact
	// Filesystem is the filesystem image (SPIFFS or LittleFS) devices get
	// when they ask for one (x-*-mode: spiffs) while this release is what
	// Decide offers them; nil when the release has none.
	Filesystem *Artifact
	// Channel is the release's track; devices following it or a less
	// stable one may get it.
	Channel Channel
	// Groups limits the release to devices in at least one of these
	// groups; empty means every device.
	Groups []string
	// Stages roll the release out gradually; empty means to everyone at
	// once.
	Stages []Stage
	// From limits which versions may step to this release; nil means any.
	From *semver.Constraints
	// Yanked releases are never offered; devices running one are offered
	// the newest release they may have, even an older one (a rollback).
	Yanked bool
	// Paused releases are not offered.
	Paused bool
	// HaltOnFailure is the failure rate (0-1) of a stage at which the
	// release is halted automatically; 0 disables auto-halt.
	HaltOnFailure float64
	// HaltMinDevices is how many outcomes a stage needs before its
	// failure rate can halt the release.
	HaltMinDevices int
	// IntroducedAt is the time of the commit that introduced the release,
	// or for a release followed on GitHub its publication; stages count
	// from it. Zero when unknown.
	IntroducedAt time.Time
	// IntroducedIn is the introducing commit's hash, "" when unknown or
	// when the release is followed on GitHub (see Source.GitHub).
	IntroducedIn string
	// Fingerprint identifies the release's configuration: it changes when
	// any of the release's settings or its binary change, which clears a
	// halt.
	Fingerprint string
}

// Source says where a release's binary comes from: a file committed to
// the config repository, or an asset of a GitHub release.
type Source struct {
	// Path is the binary's path inside the config repository, "" for a
	// GitHub asset.
	Path string
	// GitHub is the GitHub release asset the binary is, nil for a
	// committed binary.
	GitHub *GitHubAsset
}

// GitHubAsset names an asset of a GitHub release.
type GitHubAsset struct {
	// Repo is the repository as "owner/name"; Tag the release's tag; Name
	// the asset's file name.
	Repo, Tag, Name string
	// Followed is set when the platform follows the repository's releases
	// ([github] in its file) rather than pinning this one: the release is
	// then dated by its publication on GitHub, not by a commit.
	Followed bool
}

// String describes the source for people: the path, or "asset NAME of
// release TAG of OWNER/NAME".
func (s Source) String() string {
	if s.GitHub != nil {
		return "asset " + s.GitHub.Name + " of release " + s.GitHub.Tag + " of " + s.GitHub.Repo
	}
	return s.Path
}

// Device is a whitelisted device.
type Device struct {
	// MAC is the device's station MAC address.
	MAC MAC
	// Platform is the lower-case name of the platform the device runs.
	Platform string
	// Name is an optional human name, e.g. "kitchen lamp".
	Name string
	// Channel is the release track the device follows.
	Channel Channel
	// Groups are the device's groups, e.g. "canary" or "site-a".
	Groups []string
	// Pin, when set, is the version the device gets, even a downgrade;
	// it may come from one of the device's groups.
	Pin *semver.Version
}

// Group is a named set of devices with shared settings. Devices name
// their groups; a group without settings needs no Group value.
type Group struct {
	// Name is the group's name.
	Name string
	// Pin, when set, pins the group's devices to that version.
	Pin *semver.Version
	// Channel, when set, is the channel the group's devices follow unless
	// a device sets its own.
	Channel *Channel
}

// NewFleet indexes platforms and devices into a Fleet. It sorts each
// platform's releases newest first. It returns an error for duplicate
// platform names, duplicate release versions, duplicate MACs, device names
// that do not identify one device (see CheckDeviceName) and devices on
// unknown platforms; callers that load config report those with file and
// line before getting here, so an error from NewFleet is a bug in the caller.
func NewFleet(platforms []*Platform, devices []*Device) (*Fleet, error) {
	return NewFleetWithGroups(platforms, devices, nil)
}

// NewFleetWithGroups is NewFleet for a fleet with group settings. Devices
// must already carry the pin and channel their groups give them (the
// loader resolves that, since only it knows which keys a device sets). A
// pin may name a release the platform does not have (yet): the device is
// offered nothing until it does.
func NewFleetWithGroups(platforms []*Platform, devices []*Device, groups []*Group) (*Fleet, error) {
	named := 0
	for _, d := range devices {
		if d.Name != "" {
			named++
		}
	}
	f := &Fleet{
		platforms: make(map[string]*Platform, len(platforms)),
		devices:   make(map[MAC]*Device, len(devices)),
		names:     make(map[string]*Device, named),
		groups:    make(map[string]*Group, len(groups)),
		versions:  make(map[string]*semver.Version),
		sortedD:   make([]*Device, 0, len(devices)),
	}
	for _, g := range groups {
		if _, dup := f.groups[g.Name]; dup {
			return nil, fmt.Errorf("group %q defined twice", g.Name)
		}
		f.groups[g.Name] = g
	}
	for _, p := range platforms {
		key := strings.ToLower(p.Name)
		if _, dup := f.platforms[key]; dup {
			return nil, fmt.Errorf("platform %q defined twice", p.Name)
		}
		f.platforms[key] = p
		p.anonymous = Device{Platform: p.Name}
		for _, r := range p.Releases {
			// A pre-release is never for stable devices.
			if r.Version.Prerelease() != "" && r.Channel == Stable {
				r.Channel = Beta
			}
		}
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
	for _, d := range devices {
		if err := f.addName(d); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(f.sortedP, func(a, b *Platform) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(f.sortedD, func(a, b *Device) int { return compareMAC(a.MAC, b.MAC) })
	return f, nil
}

// Group returns the group with the given name, or nil when no group of
// that name has settings.
func (f *Fleet) Group(name string) *Group {
	if f == nil {
		return nil
	}
	return f.groups[name]
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

// ReleaseByID returns the platform's release with identity id, or nil:
// also when p is nil or id names another platform.
func (p *Platform) ReleaseByID(id ReleaseID) *Release {
	if p == nil {
		return nil
	}
	for _, r := range p.Releases {
		if r.ID() == id {
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
