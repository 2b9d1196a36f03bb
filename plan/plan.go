// Package plan compares two fleets, the config of a pull request's base
// and head, and says what changes for every device: what it is offered and
// the version it ends up on, before and after, whitelist and release
// changes, and who is in each stage of a staged rollout. Every answer comes
// from package rollout (Walk, which repeats Decide as the device updates,
// and Release.CohortStage), the code the server answers devices with, so a
// plan cannot disagree with /update.
//
// A device's answer depends on the version it runs. When that is known
// (Input.Reported: check-ins on the server, a versions file or a server's
// device API on the command line) the plan walks from it. When it is not,
// the plan walks from every version the device may run, the base's
// releases of its platform and NoRelease, and gives one line per distinct
// result, naming the versions each line is for.
package plan

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strconv"
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
	// Reported returns the version a device runs, verbatim as it reports
	// it, if known: the server knows it from check-ins, the command line
	// from a versions file or a server's device API. Nil means unknown for
	// every device.
	Reported func(rollout.MAC) (string, bool)
	// All lists every device, also those whose outcome does not change.
	All bool
}

// NoRelease is the version a plan starts a device from, besides its
// platform's releases, when the version it runs is not known: it stands for
// a device that runs none of them (a factory sketch, say). Devices that
// report a version below every release but admitted by a release's `from`
// constraint (when 0.0.0 is not) can fare differently; a known version
// (Input.Reported) avoids the guess.
const NoRelease = "0.0.0"

// Plan is what changes between Base and Head.
type Plan struct {
	// Devices are the lines of devices whose outcome changes (with
	// Input.All, of every device), by platform and MAC: one line for a
	// device whose version is known, one per distinct result otherwise.
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
	// Unchanged counts devices whose outcome is the same before and after,
	// from every version they may run.
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

// The kinds of DeviceChange.
const (
	KindChanged    = "changed"
	KindNew        = "newly allowed"
	KindGone       = "no longer allowed"
	KindUnchanged  = "unchanged"
	notWhitelisted = "not whitelisted"
)

// DeviceChange is one line of a plan: what base and head do to a device
// that runs a given version.
type DeviceChange struct {
	DeviceRef
	// Runs is the version the device runs (as reported), "" when unknown.
	Runs string `json:"runs,omitempty"`
	// Starts, when Runs is "", are the versions the line is for: those of
	// the versions the device may run (the base's releases of its
	// platform, newest first, and NoRelease) that get this line's result.
	// AllStarts is set when that is all of them.
	Starts    []string `json:"starts,omitempty"`
	AllStarts bool     `json:"all_starts,omitempty"`
	// Before is the version the device ends up on with the base config,
	// "" when it is not whitelisted there.
	Before string `json:"before"`
	// After is what the head config does to it.
	After Path `json:"after"`
	// Kind is KindChanged, KindNew, KindGone or (with Input.All)
	// KindUnchanged.
	Kind string `json:"kind"`
}

// Path is what a config does to a device from the version it runs.
type Path struct {
	// Outcome is the answer to the device's next request.
	Outcome rollout.Outcome `json:"outcome"`
	// Offered is the version that request is offered, "" when none.
	Offered string `json:"offered,omitempty"`
	// Installs are the versions the device installs, one update after the
	// other, until nothing more is offered; Offered comes first.
	Installs []string `json:"installs,omitempty"`
	// EndsOn is the version it ends up on: the last of Installs, else the
	// version it runs; "" when it is not whitelisted.
	EndsOn string `json:"ends_on,omitempty"`
	// Loops is set when it never settles: an update offers a version it
	// ran before.
	Loops bool `json:"loops,omitempty"`
	// Reason says why, in the words of the server's decision.
	Reason string `json:"reason"`
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
	same := samePlatforms(in.Base, in.Head)
	// Both fleets list their devices sorted by MAC bytes, which is MAC
	// text order (fixed-width hex): walking the two lists side by side
	// visits every MAC once, in order, without indexing either fleet.
	bs, hs := in.Base.Devices(), in.Head.Devices()
	for len(bs) > 0 || len(hs) > 0 {
		var b, h *rollout.Device
		switch {
		case len(hs) == 0 || len(bs) > 0 && bytes.Compare(bs[0].MAC[:], hs[0].MAC[:]) < 0:
			b, bs = bs[0], bs[1:]
		case len(bs) == 0 || bytes.Compare(bs[0].MAC[:], hs[0].MAC[:]) > 0:
			h, hs = hs[0], hs[1:]
		default:
			b, h, bs, hs = bs[0], hs[0], bs[1:], hs[1:]
		}
		dev := b
		if dev == nil {
			dev = h
		}
		m := dev.MAC
		if !in.All && b != nil && h != nil && same[b.Platform] && reflect.DeepEqual(b, h) {
			// Decide reads only the device's entry and its platform, so a
			// device whose entry and platform are equal in base and head
			// fares the same from every version: no walk needed.
			p.Unchanged++
			continue
		}
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
		lines := deviceLines(in, m, b, h)
		changed := false
		for _, l := range lines {
			changed = changed || l.Kind != KindUnchanged
		}
		if !changed {
			p.Unchanged++
		}
		for _, l := range lines {
			if in.All || l.Kind != KindUnchanged {
				p.Devices = append(p.Devices, l)
			}
		}
	}
	slices.SortStableFunc(p.Devices, func(a, b DeviceChange) int { return strings.Compare(a.Platform, b.Platform) })
	p.Releases = releaseChanges(in.Base, in.Head)
	p.Stages = stagedReleases(in.Head, in.Now)
	return p
}

// samePlatforms returns the names of the platforms that are deeply equal
// in base and head (releases, channels, stages and all).
func samePlatforms(base, head *rollout.Fleet) map[string]bool {
	out := map[string]bool{}
	if base == nil || head == nil {
		return out
	}
	for _, p := range base.Platforms() {
		if reflect.DeepEqual(p, head.Platform(p.Name)) {
			out[p.Name] = true
		}
	}
	return out
}

// deviceLines plans one device, in base as b and in head as h (either may
// be nil, not both): one line from the version it runs if known, else one
// per distinct result from the versions it may run.
func deviceLines(in Input, m rollout.MAC, b, h *rollout.Device) []DeviceChange {
	dev := b
	if dev == nil {
		dev = h
	}
	kind := func(bp, hp walked) string {
		switch {
		case b == nil:
			return KindNew
		case h == nil:
			return KindGone
		case bp.differs(hp):
			return KindChanged
		}
		return KindUnchanged
	}
	if in.Reported != nil {
		if v, ok := in.Reported(m); ok {
			bp, hp := walk(in.Base, b, m, v, in), walk(in.Head, h, m, v, in)
			return []DeviceChange{{DeviceRef: ref(dev, ""), Runs: v, Before: bp.endsOn(),
				After: hp.result(""), Kind: kind(bp, hp)}}
		}
	}

	starts := startVersions(in.Base, in.Head, dev)
	type group struct {
		key    string
		starts []string
		line   DeviceChange
	}
	var groups []*group
	for _, s := range starts {
		bp, hp := walk(in.Base, b, m, s, in), walk(in.Head, h, m, s, in)
		line := DeviceChange{DeviceRef: ref(dev, ""), Before: bp.endsOn(), After: hp.result(placeholder), Kind: kind(bp, hp)}
		// Starts whose lines read the same but for the version they run
		// share a line.
		key := strings.Join(append([]string{line.Kind, line.Before, line.After.Outcome.String(), line.After.EndsOn,
			line.After.Reason, strconv.FormatBool(line.After.Loops)}, line.After.Installs...), "\x00")
		i := slices.IndexFunc(groups, func(g *group) bool { return g.key == key })
		if i < 0 {
			groups = append(groups, &group{key: key, line: line})
			i = len(groups) - 1
		}
		groups[i].starts = append(groups[i].starts, s)
	}
	lines := make([]DeviceChange, 0, len(groups))
	for _, g := range groups {
		l := g.line
		l.Starts, l.AllStarts = g.starts, len(g.starts) == len(starts)
		l.After.Reason = strings.ReplaceAll(l.After.Reason, placeholder, startsText(g.starts))
		lines = append(lines, l)
	}
	return lines
}

var noRelease = semver.MustParse(NoRelease)

// placeholder stands for the version a device runs in a reason, so that
// lines can be compared without it; the line's versions replace it.
const placeholder = "\x00running\x00"

// startVersions returns the versions a device whose version is unknown may
// run: the base's releases of its platform (the head's when the base lacks
// the platform), newest first, and NoRelease.
func startVersions(base, head *rollout.Fleet, dev *rollout.Device) []string {
	p := base.Platform(dev.Platform)
	if p == nil {
		p = head.Platform(dev.Platform)
	}
	var out []string
	none := true
	if p != nil {
		for _, r := range p.Releases {
			out = append(out, r.Version.String())
			none = none && !r.Version.Equal(noRelease)
		}
	}
	if none {
		out = append(out, NoRelease)
	}
	return out
}

// startsText names start versions in a sentence: "1.0.0, 1.1.0 or 0.0.0".
func startsText(vs []string) string {
	switch n := len(vs); {
	case n == 1:
		return vs[0]
	case n <= 4:
		return strings.Join(vs[:n-1], ", ") + " or " + vs[n-1]
	default:
		return fmt.Sprintf("%s, %s, … or %s (%d versions)", vs[0], vs[1], vs[n-1], n)
	}
}

// walked is a device's path through one fleet from one version; dev is
// nil when the fleet does not whitelist the device.
type walked struct {
	dev     *rollout.Device
	running string
	path    rollout.Path
}

// walk follows device m, dev in fleet (nil if not there), from version
// running at in.Now, with the server's decision code.
func walk(fleet *rollout.Fleet, dev *rollout.Device, m rollout.MAC, running string, in Input) walked {
	return walked{dev: dev, running: running, path: rollout.Walk(fleet, rollout.Request{MAC: m, Version: running, Now: in.Now}, in.Halts)}
}

// differs reports whether a device fares differently on the two paths:
// another answer now, other installs, or a loop.
func (w walked) differs(o walked) bool {
	a, b := w.path, o.path
	return a.First.Outcome != b.First.Outcome || a.Loop != b.Loop ||
		!slices.EqualFunc(a.Installs, b.Installs, func(x, y *rollout.Release) bool { return x.Version.Equal(y.Version) })
}

// endsOn is the version the device ends up on, "" when not whitelisted.
func (w walked) endsOn() string {
	switch {
	case w.dev == nil:
		return ""
	case w.path.Ends() != nil:
		return w.path.Ends().Version.String()
	case w.path.First.Current != nil:
		return w.path.First.Current.String()
	}
	return w.running
}

// result describes the path; running names the version(s) the device
// runs in the reason, "" for the one it was walked from.
func (w walked) result(running string) Path {
	p := w.path
	res := Path{Outcome: p.First.Outcome, EndsOn: w.endsOn(), Loops: p.Loop}
	for _, r := range p.Installs {
		res.Installs = append(res.Installs, r.Version.String())
	}
	if len(res.Installs) > 0 {
		res.Offered = res.Installs[0]
	}
	if w.dev == nil {
		res.Reason = notWhitelisted
		return res
	}
	if running == "" {
		res.Reason = p.First.Reason()
	} else {
		res.Reason = p.First.ReasonRunning(running)
	}
	if len(res.Installs) > 1 {
		res.Reason += "; then " + strings.Join(res.Installs[1:], ", then ")
	}
	switch {
	case p.Loop:
		res.Reason += "; then " + p.Last.Release.Version.String() + " again: it never settles"
	case len(res.Installs) > 0 && p.Last.Held != nil:
		res.Reason += "; on " + res.EndsOn + ": " + p.Last.Reason()
	}
	return res
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

func releasesByID(f *rollout.Fleet) map[rollout.ReleaseID]*rollout.Release {
	out := map[rollout.ReleaseID]*rollout.Release{}
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
	parts = append(parts, fmt.Sprintf("%s, %s", r.Artifact.Source, r.Artifact.SizeText()))
	if fs := r.Filesystem; fs != nil {
		parts = append(parts, fmt.Sprintf("filesystem %s, %s", fs.Source, fs.SizeText()))
	}
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
	switch af, bf := a.Filesystem, b.Filesystem; {
	case af == nil && bf != nil:
		parts = append(parts, "filesystem image added")
	case af != nil && bf == nil:
		parts = append(parts, "filesystem image removed")
	case af != nil && af.SHA256 != bf.SHA256:
		parts = append(parts, "filesystem image replaced")
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
				if i := r.CohortStage(d); i >= 0 {
					sr.Stages[i].Devices = append(sr.Stages[i].Devices, ref(d, ""))
				}
			}
			out = append(out, sr)
		}
	}
	return out
}

// ChangedDevices counts the devices whose outcome changes (a device whose
// version is unknown can have several lines).
func (p Plan) ChangedDevices() int {
	n, last := 0, ""
	for _, d := range p.Devices {
		// A device's lines are next to each other.
		if d.Kind != KindUnchanged && d.MAC != last {
			n, last = n+1, d.MAC
		}
	}
	return n
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
	n := p.ChangedDevices()
	devices := fmt.Sprintf("%d devices change", n)
	if n == 1 {
		devices = "1 device changes"
	}
	return fmt.Sprintf("%s; whitelist +%d -%d; releases +%d -%d ~%d", devices, len(p.Added), len(p.Removed), added, removed, changed)
}
