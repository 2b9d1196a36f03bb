package rollout

import (
	"fmt"

	"github.com/Masterminds/semver/v3"
)

// Request is what a device tells the server when it asks for an update.
type Request struct {
	// MAC is the device's station MAC address.
	MAC MAC
	// Platform is the platform the device names (the dev= query parameter),
	// or "" to use the platform of its whitelist entry.
	Platform string
	// Version is the version the device reports running, verbatim.
	Version string
}

// Outcome is the kind of answer a device gets.
type Outcome uint8

// The outcomes of Decide. The zero Outcome is not a valid decision.
const (
	// Update: a newer release is offered (HTTP 200 with the binary).
	Update Outcome = iota + 1
	// UpToDate: nothing to install (HTTP 304).
	UpToDate
	// NotWhitelisted: the device is not allowed on the platform (HTTP 403).
	NotWhitelisted
	// UnknownPlatform: the named platform does not exist (HTTP 404).
	UnknownPlatform
	// BadVersion: the device's version cannot be read (HTTP 400).
	BadVersion
)

var outcomeNames = [...]string{
	Update:          "update",
	UpToDate:        "up_to_date",
	NotWhitelisted:  "not_whitelisted",
	UnknownPlatform: "unknown_platform",
	BadVersion:      "bad_version",
}

// String returns a stable snake_case name, used in logs and JSON.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) && outcomeNames[o] != "" {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// MarshalText implements encoding.TextMarshaler with String.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Decision is the answer to a Request and the facts that led to it.
type Decision struct {
	Outcome Outcome
	// Request is the request decided on.
	Request Request
	// Platform is the platform the decision was made for; nil for
	// UnknownPlatform, and for NotWhitelisted when the device named none.
	Platform *Platform
	// Device is the device's whitelist entry, nil when not whitelisted.
	Device *Device
	// Current is the device's version, nil if it could not be read.
	Current *semver.Version
	// Release is the release offered (Update) or the newest release the
	// device was compared with (UpToDate); nil otherwise.
	Release *Release
	// Err explains BadVersion.
	Err error
}

// Decide answers req from fleet. It is pure: the same inputs always give
// the same decision. It does not allocate on the up-to-date path when the
// device reports one of the fleet's release versions.
func Decide(fleet *Fleet, req Request) Decision {
	d := Decision{Request: req}
	if req.Platform != "" {
		d.Platform = fleet.Platform(req.Platform)
		if d.Platform == nil {
			d.Outcome = UnknownPlatform
			return d
		}
	}
	d.Device = fleet.Device(req.MAC)
	if d.Device == nil {
		d.Outcome = NotWhitelisted
		return d
	}
	if d.Platform == nil {
		d.Platform = fleet.Platform(d.Device.Platform)
	}
	if d.Platform == nil || d.Platform.Name != d.Device.Platform {
		d.Outcome = NotWhitelisted
		return d
	}
	cur, err := fleet.ParseDeviceVersion(req.Version)
	if err != nil {
		d.Outcome, d.Err = BadVersion, err
		return d
	}
	d.Current = cur
	d.Release = newest(d.Platform)
	if d.Release != nil && d.Release.Version.GreaterThan(cur) {
		d.Outcome = Update
		return d
	}
	d.Outcome = UpToDate
	return d
}

// newest returns the platform's newest release that is not a pre-release.
// Pre-releases are never offered by this basic policy: a device must opt in
// to them, and there is no way to opt in yet.
func newest(p *Platform) *Release {
	for _, r := range p.Releases {
		if r.Version.Prerelease() == "" {
			return r
		}
	}
	return nil
}

// Reason explains the decision in one line of text for logs, the API and
// review plans.
func (d Decision) Reason() string {
	switch d.Outcome {
	case Update:
		return fmt.Sprintf("%s is newer than the running %s", d.Release.Version, d.Current)
	case UpToDate:
		if d.Release == nil {
			return fmt.Sprintf("platform %s has no releases", d.Platform.Name)
		}
		return fmt.Sprintf("running %s; newest release is %s", d.Current, d.Release.Version)
	case NotWhitelisted:
		switch {
		case d.Device == nil:
			return fmt.Sprintf("device %s is not whitelisted", d.Request.MAC)
		default:
			return fmt.Sprintf("device %s is whitelisted for platform %s, not %s", d.Request.MAC, d.Device.Platform, d.Request.Platform)
		}
	case UnknownPlatform:
		return fmt.Sprintf("unknown platform %q", d.Request.Platform)
	case BadVersion:
		return fmt.Sprintf("cannot read device version: %v", d.Err)
	}
	return d.Outcome.String()
}
