package rollout

import (
	"fmt"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
)

// Channel is a release track. A device following a channel gets releases
// of that channel and of every more stable one: a beta device gets the
// newest of stable and beta.
type Channel uint8

// The channels, most stable first. The zero Channel is Stable.
const (
	Stable Channel = iota
	Beta
	Alpha
)

var channelNames = [...]string{Stable: "stable", Beta: "beta", Alpha: "alpha"}

// ParseChannel reads a channel name.
func ParseChannel(s string) (Channel, error) {
	for c, n := range channelNames {
		if s == n {
			return Channel(c), nil
		}
	}
	return 0, fmt.Errorf("unknown channel %q (use %s)", s, strings.Join(channelNames[:], ", "))
}

// String returns the channel's name.
func (c Channel) String() string {
	if int(c) < len(channelNames) {
		return channelNames[c]
	}
	return fmt.Sprintf("channel(%d)", uint8(c))
}

// MarshalText implements encoding.TextMarshaler with String.
func (c Channel) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Stage is one step of a staged rollout: After the release's introduction,
// Percent of the fleet may have it.
type Stage struct {
	// Percent of devices (0 < Percent <= 100) offered the release.
	Percent float64
	// After is when the stage starts, counted from the commit that
	// introduced the release.
	After time.Duration
}

// StageAt returns the index of the stage in force at now and its percent:
// the last stage whose start has passed. A release without stages is
// fully rolled out: (-1, 100). Before the first stage starts it returns
// (-1, 0). A release whose introduction is unknown (zero time, as in a
// work tree outside Git) is treated as introduced at now.
func (r *Release) StageAt(now time.Time) (index int, percent float64) {
	if len(r.Stages) == 0 {
		return -1, 100
	}
	elapsed := time.Duration(0)
	if !r.IntroducedAt.IsZero() {
		elapsed = now.Sub(r.IntroducedAt)
	}
	index = -1
	for i, s := range r.Stages {
		if elapsed >= s.After {
			index, percent = i, s.Percent
		}
	}
	return index, percent
}

// NextStage returns when the stage after the one in force at now starts,
// or the zero time when there is none.
func (r *Release) NextStage(now time.Time) time.Time {
	i, _ := r.StageAt(now)
	if i+1 >= len(r.Stages) || r.IntroducedAt.IsZero() {
		return time.Time{}
	}
	return r.IntroducedAt.Add(r.Stages[i+1].After)
}

// cohortScale is the resolution of cohort positions: 1/10000 of the fleet.
const cohortScale = 10000

// CohortPosition places mac in [0, 1) for release r, by a stable hash of
// (platform, version, MAC). A device is in a stage of percent p when its
// position is below p/100, so raising the percentage only adds devices,
// and each release picks its own cohort.
func (r *Release) CohortPosition(mac MAC) float64 {
	// FNV-1a, written out so that it does not allocate. FNV alone mixes
	// its low bits poorly for inputs that differ only in their last bytes,
	// as consecutive factory MACs do; the MurmurHash3 finalizer fixes that.
	id := r.ID()
	h := uint64(fnvOffset)
	h = fnvString(h, id.Platform)
	h = fnvByte(h, 0)
	h = fnvString(h, id.Version)
	h = fnvByte(h, 0)
	for _, b := range mac {
		h = fnvByte(h, b)
	}
	x := fmix64(h)
	return float64(x%cohortScale) / cohortScale
}

// InCohort reports whether mac is among the percent of devices offered r.
func (r *Release) InCohort(mac MAC, percent float64) bool {
	if percent >= 100 {
		return true
	}
	return r.CohortPosition(mac)*100 < percent
}

// CohortStage returns the index of the first of r's stages whose cohort
// includes dev: the stage from which Decide offers r to dev, provided
// nothing else holds it back (a pause, a halt, an upgrade path, a newer
// release). It returns -1 when r's rollout never reaches dev: r has no
// stages or is of another platform, dev may not have r (MayHave), or dev
// is pinned (a pinned device gets its pin, whatever rolls out).
func (r *Release) CohortStage(dev *Device) int {
	if len(r.Stages) == 0 || dev.Pin != nil || !strings.EqualFold(r.Platform, dev.Platform) || !MayHave(r, dev) {
		return -1
	}
	for i, s := range r.Stages {
		if r.InCohort(dev.MAC, s.Percent) {
			return i
		}
	}
	return -1
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = fnvByte(h, s[i])
	}
	return h
}

func fmix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// ID returns the release's identity: its platform and its version
// without build metadata.
func (r *Release) ID() ReleaseID { return IDOf(r.Platform, r.Version) }

// inGroups reports whether a device in groups may get a release limited to
// want (no limit when want is empty).
func inGroups(want, groups []string) bool {
	if len(want) == 0 {
		return true
	}
	for _, w := range want {
		for _, g := range groups {
			if w == g {
				return true
			}
		}
	}
	return false
}

// allowsFrom reports whether a device on cur may step to r.
func (r *Release) allowsFrom(cur *semver.Version) bool {
	return r.From == nil || r.From.Check(cur)
}
