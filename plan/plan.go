// Package plan compares two fleets, the config of a pull request's base
// and head, and says what changes for every device: the version it would
// be offered before and after, whitelist and release changes, and who is in
// each stage of a staged rollout. Every answer comes from rollout.Decide,
// the function the server answers devices with.
package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/rollout"
)

// Input is what a plan is made from.
type Input struct {
	// Base and Head are the fleets before and after; Base may be nil (a
	// first commit, or a base that does not load).
	Base, Head *rollout.Fleet
	// Now is the time the plan is made for; stages are evaluated at it.
	Now time.Time
	// Halts are the releases halted at run time, if known.
	Halts rollout.Halts
	// Reported returns the version a device last reported, if known (the
	// server knows it from check-ins; the command line does not).
	Reported func(rollout.MAC) (string, bool)
}

// Plan is what changes between Base and Head.
type Plan struct {
	// Devices are the devices whose outcome changes, by platform and MAC.
	Devices []DeviceChange `json:"devices"`
	// Added and Removed are whitelist changes; Changed are devices whose
	// settings (platform, channel, groups, pin) changed.
	Added   []DeviceRef `json:"whitelist_added"`
	Removed []DeviceRef `json:"whitelist_removed"`
	Changed []DeviceRef `json:"whitelist_changed"`
	// Releases lists releases added, removed or changed.
	Releases []ReleaseChange `json:"releases"`
	// Stages lists, for every staged release of Head, who is in each stage.
	Stages []StagedRelease `json:"staged_releases,omitempty"`
	// Unchanged counts devices whose outcome is the same before and after.
	Unchanged int `json:"unchanged"`
}

// DeviceRef names a device.
type DeviceRef struct {
	MAC      string `json:"mac"`
	Name     string `json:"name,omitempty"`
	Platform string `json:"platform"`
	// What describes a settings change ("pin 1.2.0 -> none").
	What string `json:"what,omitempty"`
}

// DeviceChange is one device whose outcome changes.
type DeviceChange struct {
	DeviceRef
	// Reported is the version the device last reported, "" if unknown.
	Reported string `json:"reported,omitempty"`
	// Before and After are the version it would be offered and end up on
	// ("" when none), and why.
	Before       string `json:"before"`
	After        string `json:"after"`
	BeforeReason string `json:"before_reason,omitempty"`
	AfterReason  string `json:"after_reason,omitempty"`
	// Kind is "changed", "newly allowed" or "no longer allowed".
	Kind string `json:"kind"`
}

// ReleaseChange is a release added, removed or changed.
type ReleaseChange struct {
	Platform string `json:"platform"`
	Version  string `json:"version"`
	// Kind is "added", "removed" or "changed".
	Kind string `json:"kind"`
	// What describes the release (added) or its changes (changed).
	What string `json:"what,omitempty"`
}

// StagedRelease is a staged release and the devices of each stage.
type StagedRelease struct {
	Platform string        `json:"platform"`
	Version  string        `json:"version"`
	Stages   []StageCohort `json:"stages"`
}

// StageCohort is the devices one stage adds.
type StageCohort struct {
	Percent float64 `json:"percent"`
	// Starts is when the stage starts, zero if the release's introduction
	// is not known yet (it counts from the commit that lands it).
	Starts time.Time `json:"starts,omitzero"`
	// After is the stage's delay from the introduction.
	After time.Duration `json:"after_ns"`
	// Active is true when the stage is in force at the plan's time.
	Active  bool        `json:"active"`
	Devices []DeviceRef `json:"devices"`
}

// Make computes the plan.
func Make(in Input) Plan {
	var p Plan
	base, head := devicesByMAC(in.Base), devicesByMAC(in.Head)
	macs := make([]rollout.MAC, 0, len(base)+len(head))
	for m := range base {
		macs = append(macs, m)
	}
	for m := range head {
		if _, ok := base[m]; !ok {
			macs = append(macs, m)
		}
	}
	slices.SortFunc(macs, func(a, b rollout.MAC) int { return strings.Compare(a.String(), b.String()) })
	for _, m := range macs {
		b, h := base[m], head[m]
		switch {
		case b == nil:
			p.Added = append(p.Added, ref(h, ""))
		case h == nil:
			p.Removed = append(p.Removed, ref(b, ""))
		default:
			if what := settingsChange(b, h); what != "" {
				p.Changed = append(p.Changed, ref(h, what))
			}
		}
		reported, known := "", false
		if in.Reported != nil {
			reported, known = in.Reported(m)
		}
		before, beforeWhy := target(in.Base, b, reported, known, in)
		after, afterWhy := target(in.Head, h, reported, known, in)
		c := DeviceChange{Reported: reported, Before: before, After: after, BeforeReason: beforeWhy, AfterReason: afterWhy}
		switch {
		case b == nil:
			c.DeviceRef, c.Kind = ref(h, ""), "newly allowed"
		case h == nil:
			c.DeviceRef, c.Kind = ref(b, ""), "no longer allowed"
		case before != after:
			c.DeviceRef, c.Kind = ref(h, ""), "changed"
		default:
			p.Unchanged++
			continue
		}
		p.Devices = append(p.Devices, c)
	}
	slices.SortStableFunc(p.Devices, func(a, b DeviceChange) int { return strings.Compare(a.Platform, b.Platform) })
	p.Releases = releaseChanges(in.Base, in.Head)
	p.Stages = stagedReleases(in.Head, in.Now)
	return p
}

// target returns the version a device would end up being offered by
// fleet, and why. With a reported version it is the answer to that
// device's next request; without one it is where the device converges:
// the decision is repeated, as the device would poll after each update,
// from the platform's oldest release until nothing newer is offered.
func target(fleet *rollout.Fleet, d *rollout.Device, reported string, known bool, in Input) (string, string) {
	if fleet == nil || d == nil {
		return "", "not whitelisted"
	}
	req := rollout.Request{MAC: d.MAC, Now: in.Now}
	if known {
		req.Version = reported
		dec := rollout.Decide(fleet, req, in.Halts)
		switch dec.Outcome {
		case rollout.Update:
			return dec.Release.Version.String(), dec.Reason()
		case rollout.UpToDate:
			if dec.Current != nil {
				return dec.Current.String(), dec.Reason()
			}
		}
		return "", dec.Reason()
	}
	p := fleet.Platform(d.Platform)
	if p == nil || len(p.Releases) == 0 {
		return "", "no releases"
	}
	cur := p.Releases[len(p.Releases)-1].Version
	start := semver.New(0, 0, 0, "", "")
	if d.Pin == nil {
		cur = start
	}
	var last, offered rollout.Decision
	for range 32 {
		req.Version = cur.String()
		last = rollout.Decide(fleet, req, in.Halts)
		if last.Outcome != rollout.Update {
			break
		}
		offered, cur = last, last.Release.Version
	}
	if cur == start {
		return "", last.Reason()
	}
	if offered.Outcome == rollout.Update {
		// Why the device gets where it ends up, not that it is there.
		return cur.String(), targetReason(offered)
	}
	return cur.String(), last.Reason()
}

// targetReason explains where a device converges without the notional
// version it was started from.
func targetReason(d rollout.Decision) string {
	switch d.Why {
	case rollout.WhyPinned:
		return "pinned to " + d.Release.Version.String()
	case rollout.WhyNewer:
		s := "newest release for this device"
		if n := len(d.Release.Stages); n > 0 && d.Stage >= 0 {
			s += fmt.Sprintf("; stage %d of %d, %g%%", d.Stage+1, n, d.Percent)
		}
		return s
	}
	return d.Reason()
}

func devicesByMAC(f *rollout.Fleet) map[rollout.MAC]*rollout.Device {
	out := map[rollout.MAC]*rollout.Device{}
	for _, d := range f.Devices() {
		out[d.MAC] = d
	}
	return out
}

func ref(d *rollout.Device, what string) DeviceRef {
	return DeviceRef{MAC: d.MAC.String(), Name: d.Name, Platform: d.Platform, What: what}
}

// settingsChange describes how a device's whitelist entry changed.
func settingsChange(b, h *rollout.Device) string {
	var parts []string
	if b.Platform != h.Platform {
		parts = append(parts, fmt.Sprintf("platform %s → %s", b.Platform, h.Platform))
	}
	if b.Channel != h.Channel {
		parts = append(parts, fmt.Sprintf("channel %s → %s", b.Channel, h.Channel))
	}
	if strings.Join(b.Groups, ",") != strings.Join(h.Groups, ",") {
		parts = append(parts, fmt.Sprintf("groups [%s] → [%s]", strings.Join(b.Groups, ", "), strings.Join(h.Groups, ", ")))
	}
	if pin(b) != pin(h) {
		parts = append(parts, fmt.Sprintf("pin %s → %s", pin(b), pin(h)))
	}
	if b.Name != h.Name {
		parts = append(parts, fmt.Sprintf("name %q → %q", b.Name, h.Name))
	}
	return strings.Join(parts, "; ")
}

func pin(d *rollout.Device) string {
	if d.Pin == nil {
		return "none"
	}
	return d.Pin.String()
}

func releasesByID(f *rollout.Fleet) map[string]*rollout.Release {
	out := map[string]*rollout.Release{}
	for _, p := range f.Platforms() {
		for _, r := range p.Releases {
			out[r.ID()] = r
		}
	}
	return out
}

func releaseChanges(base, head *rollout.Fleet) []ReleaseChange {
	b, h := releasesByID(base), releasesByID(head)
	var out []ReleaseChange
	for id, r := range h {
		old, ok := b[id]
		switch {
		case !ok:
			out = append(out, ReleaseChange{Platform: r.Platform, Version: r.Version.String(), Kind: "added", What: describe(r)})
		case old.Fingerprint != r.Fingerprint:
			out = append(out, ReleaseChange{Platform: r.Platform, Version: r.Version.String(), Kind: "changed", What: diffRelease(old, r)})
		}
	}
	for id, r := range b {
		if _, ok := h[id]; !ok {
			out = append(out, ReleaseChange{Platform: r.Platform, Version: r.Version.String(), Kind: "removed"})
		}
	}
	slices.SortFunc(out, func(x, y ReleaseChange) int {
		if c := strings.Compare(x.Platform, y.Platform); c != 0 {
			return c
		}
		return semver.MustParse(x.Version).Compare(semver.MustParse(y.Version))
	})
	return out
}

// describe summarises a release's rules.
func describe(r *rollout.Release) string {
	parts := []string{r.Channel.String()}
	if len(r.Groups) > 0 {
		parts = append(parts, "groups "+strings.Join(r.Groups, ", "))
	}
	if len(r.Stages) > 0 {
		parts = append(parts, "stages "+stagesText(r.Stages))
	}
	if r.From != nil {
		parts = append(parts, "from "+r.From.String())
	}
	if r.Yanked {
		parts = append(parts, "yanked")
	}
	if r.Paused {
		parts = append(parts, "paused")
	}
	if r.HaltOnFailure > 0 {
		parts = append(parts, fmt.Sprintf("halts at %g%% failures (min %d devices)", r.HaltOnFailure*100, r.HaltMinDevices))
	}
	parts = append(parts, fmt.Sprintf("%s, %d bytes", r.Artifact.Source, r.Artifact.Size))
	return strings.Join(parts, "; ")
}

func stagesText(stages []rollout.Stage) string {
	var s []string
	for _, st := range stages {
		if st.After == 0 {
			s = append(s, fmt.Sprintf("%g%%", st.Percent))
		} else {
			s = append(s, fmt.Sprintf("%g%% after %s", st.Percent, fmtDuration(st.After)))
		}
	}
	return strings.Join(s, " → ")
}

func fmtDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 && d > 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

// diffRelease describes what changed in a release.
func diffRelease(a, b *rollout.Release) string {
	var parts []string
	if a.Artifact.SHA256 != b.Artifact.SHA256 {
		parts = append(parts, "binary replaced")
	}
	if a.Channel != b.Channel {
		parts = append(parts, fmt.Sprintf("channel %s → %s", a.Channel, b.Channel))
	}
	if strings.Join(a.Groups, ",") != strings.Join(b.Groups, ",") {
		parts = append(parts, fmt.Sprintf("groups [%s] → [%s]", strings.Join(a.Groups, ", "), strings.Join(b.Groups, ", ")))
	}
	if stagesText(a.Stages) != stagesText(b.Stages) {
		parts = append(parts, fmt.Sprintf("stages [%s] → [%s]", stagesText(a.Stages), stagesText(b.Stages)))
	}
	if fromText(a) != fromText(b) {
		parts = append(parts, fmt.Sprintf("from %q → %q", fromText(a), fromText(b)))
	}
	flag := func(name string, x, y bool) {
		switch {
		case !x && y:
			parts = append(parts, name)
		case x && !y:
			parts = append(parts, "no longer "+name)
		}
	}
	flag("yanked", a.Yanked, b.Yanked)
	flag("paused", a.Paused, b.Paused)
	if a.HaltOnFailure != b.HaltOnFailure || a.HaltMinDevices != b.HaltMinDevices {
		parts = append(parts, fmt.Sprintf("auto-halt %g%%/%d → %g%%/%d", a.HaltOnFailure*100, a.HaltMinDevices, b.HaltOnFailure*100, b.HaltMinDevices))
	}
	if len(parts) == 0 {
		parts = append(parts, "settings changed")
	}
	return strings.Join(parts, "; ")
}

func fromText(r *rollout.Release) string {
	if r.From == nil {
		return ""
	}
	return r.From.String()
}

// stagedReleases lists, for every staged release, the devices each stage
// adds, in cohort order.
func stagedReleases(f *rollout.Fleet, now time.Time) []StagedRelease {
	var out []StagedRelease
	for _, p := range f.Platforms() {
		for _, r := range p.Releases {
			if len(r.Stages) == 0 || r.Yanked {
				continue
			}
			sr := StagedRelease{Platform: p.Name, Version: r.Version.String()}
			active, _ := r.StageAt(now)
			for i, st := range r.Stages {
				c := StageCohort{Percent: st.Percent, After: st.After, Active: i <= active, Devices: []DeviceRef{}}
				if !r.IntroducedAt.IsZero() {
					c.Starts = r.IntroducedAt.Add(st.After)
				}
				sr.Stages = append(sr.Stages, c)
			}
			for _, d := range f.Devices() {
				if d.Platform != p.Name || d.Pin != nil || d.Channel < r.Channel || !inGroups(r.Groups, d.Groups) {
					continue
				}
				pos := r.CohortPosition(d.MAC) * 100
				for i, st := range r.Stages {
					if pos < st.Percent {
						sr.Stages[i].Devices = append(sr.Stages[i].Devices, ref(d, ""))
						break
					}
				}
			}
			out = append(out, sr)
		}
	}
	return out
}

func inGroups(want, have []string) bool {
	if len(want) == 0 {
		return true
	}
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

// Summary is the plan in one line, e.g. "3 devices change; whitelist +1
// -0; releases +1 -0 ~0".
func (p Plan) Summary() string {
	var added, removed, changed int
	for _, r := range p.Releases {
		switch r.Kind {
		case "added":
			added++
		case "removed":
			removed++
		default:
			changed++
		}
	}
	n := len(p.Devices)
	devices := fmt.Sprintf("%d devices change", n)
	if n == 1 {
		devices = "1 device changes"
	}
	return fmt.Sprintf("%s; whitelist +%d -%d; releases +%d -%d ~%d", devices, len(p.Added), len(p.Removed), added, removed, changed)
}
