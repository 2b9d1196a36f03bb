package rollout

import (
	"fmt"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
)

// Request is what a device tells the server when it asks for an update,
// and when it asks.
type Request struct {
	// MAC is the device's station MAC address.
	MAC MAC
	// Platform is the platform the device names (the dev= query parameter),
	// or "" to use the platform of its whitelist entry.
	Platform string
	// Version is the version the device reports running, verbatim.
	Version string
	// SketchMD5 is the MD5 of the running firmware (x-*-sketch-md5), ""
	// when not sent.
	SketchMD5 string
	// FreeSpace is the room for a new image in bytes (x-*-free-space), 0
	// when not sent.
	FreeSpace int64
	// ChipSize is the flash chip's size in bytes (x-*-chip-size), 0 when
	// not sent.
	ChipSize int64
	// Now is when the request is decided; stages are evaluated at it.
	Now time.Time
	// Mode is what the device asks for (x-*-mode). Every mode is decided
	// alike; a filesystem request then gets the filesystem image of the
	// release it would be offered as an app, unless it took that image
	// already (see FilesystemTaken).
	Mode Mode
	// FilesystemTaken is the SHA-256 of the last filesystem image the
	// server sent this device in full, "" when none (or not known): a
	// filesystem request for the same image is answered UpToDate, so that
	// a device whose app update has not gone through yet is not sent the
	// same filesystem on every poll.
	FilesystemTaken string
	// Anonymous asks on behalf of a device that is in no whitelist and
	// gives no MAC (an esp32FOTA or ESPHome manifest fetched without an
	// id), for the platform Platform names. Only a platform that allows
	// anonymous devices answers it (Platform.Anonymous); MAC is ignored.
	Anonymous bool
	// Want is the release the device's user picked from a list (the
	// AutoConnect update menu), nil for none. The device gets it only
	// when it is exactly the release Decide would offer it: a pick
	// obeys every rule an update does, and chooses nothing else.
	Want *semver.Version
}

// Halts tells which releases were stopped at run time (by auto-halt or an
// operator), as opposed to paused in the config.
type Halts interface {
	// Halted reports whether r must not be offered.
	Halted(r *Release) bool
}

// Outcome is the kind of answer a device gets.
type Outcome uint8

// The outcomes of Decide. The zero Outcome is not a valid decision.
const (
	// Update: a release is offered (HTTP 200 with the binary).
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

// UnmarshalText implements encoding.TextUnmarshaler: it reads the names
// String returns, so that plans in JSON read back.
func (o *Outcome) UnmarshalText(b []byte) error {
	for i, n := range outcomeNames {
		if n != "" && n == string(b) {
			*o = Outcome(i)
			return nil
		}
	}
	return fmt.Errorf("unknown outcome %q", b)
}

// Why is the rule that decided. Reason turns it into text.
type Why uint8

// The rules. For UpToDate decisions with a newer release held back, Held
// is that release and Why says what held it.
const (
	// WhyNewer: Release is the newest release the device may have.
	WhyNewer Why = iota + 1
	// WhyPinned: the device is pinned to Release.
	WhyPinned
	// WhyRollback: the device runs a yanked release; Release is the one it
	// rolls back (or forward) to.
	WhyRollback
	// WhyLatest: the device runs the newest release it may have.
	WhyLatest
	// WhyNoReleases: the platform has no release the device may have.
	WhyNoReleases
	// WhyPlatformPaused: the platform is paused.
	WhyPlatformPaused
	// WhyPaused: Held is paused in the config.
	WhyPaused
	// WhyHalted: Held was halted at run time.
	WhyHalted
	// WhyNotStarted: Held's first stage has not started.
	WhyNotStarted
	// WhyNotInCohort: the device is not in the cohort of Held's stage.
	WhyNotInCohort
	// WhyFrom: Held requires a different current version (from = ...).
	WhyFrom
	// WhyNoSpace: Release's image is larger than the device's free space.
	WhyNoSpace
	// WhyFlashTooSmall: Release's image needs a larger flash chip.
	WhyFlashTooSmall
	// WhyAlreadyRunning: the device's sketch MD5 is Release's MD5.
	WhyAlreadyRunning
	// WhyNotWhitelisted: the device is in no whitelist.
	WhyNotWhitelisted
	// WhyOtherPlatform: the device is whitelisted for another platform.
	WhyOtherPlatform
	// WhyUnknownPlatform: the named platform does not exist.
	WhyUnknownPlatform
	// WhyBadVersion: the device's version cannot be read.
	WhyBadVersion
	// WhyNoFilesystem: a filesystem request, and Release has no
	// filesystem image.
	WhyNoFilesystem
	// WhyFilesystemTaken: a filesystem request, and the device already
	// took Release's filesystem image (Request.FilesystemTaken).
	WhyFilesystemTaken
	// WhyAnonymous: an anonymous request, for a platform that does not
	// serve anonymous devices (or for none).
	WhyAnonymous
	// WhyNotPicked: Release is the release the device would be offered,
	// and its user picked another one (Request.Want).
	WhyNotPicked
)

var whyNames = [...]string{
	WhyNewer: "newer", WhyPinned: "pinned", WhyRollback: "rollback", WhyLatest: "latest",
	WhyNoReleases: "no_releases", WhyPlatformPaused: "platform_paused", WhyPaused: "paused",
	WhyHalted: "halted", WhyNotStarted: "stage_not_started", WhyNotInCohort: "not_in_cohort",
	WhyFrom: "upgrade_path", WhyNoSpace: "no_space", WhyFlashTooSmall: "flash_too_small",
	WhyAlreadyRunning: "already_running", WhyNotWhitelisted: "not_whitelisted",
	WhyOtherPlatform: "other_platform", WhyUnknownPlatform: "unknown_platform", WhyBadVersion: "bad_version",
	WhyNoFilesystem: "no_filesystem", WhyFilesystemTaken: "filesystem_taken",
	WhyAnonymous: "anonymous", WhyNotPicked: "not_picked",
}

// String returns a stable snake_case name, used in logs and JSON.
func (w Why) String() string {
	if int(w) < len(whyNames) && whyNames[w] != "" {
		return whyNames[w]
	}
	return fmt.Sprintf("why(%d)", uint8(w))
}

// MarshalText implements encoding.TextMarshaler with String.
func (w Why) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// Decision is the answer to a Request and the facts that led to it.
type Decision struct {
	Outcome Outcome
	// Why is the rule that decided.
	Why Why
	// Request is the request decided on.
	Request Request
	// Platform is the platform the decision was made for; nil for
	// UnknownPlatform, and for NotWhitelisted when the device named none.
	Platform *Platform
	// Device is the device's whitelist entry, nil when not whitelisted
	// (also for an anonymous request).
	Device *Device
	// Current is the device's version, nil if it could not be read.
	Current *semver.Version
	// Release is the release offered (Update), or for UpToDate the
	// release the device is on or would be offered but for a device check
	// (space, MD5); nil otherwise.
	Release *Release
	// Held is the newer release that was held back (UpToDate), if any.
	Held *Release
	// Stage is the index of the stage in force for Release (Update) or
	// Held (UpToDate), -1 when none; Percent is its percentage.
	Stage   int
	Percent float64
	// Err explains BadVersion.
	Err error
}

// Decide answers req from fleet; halts (nil for none) says which releases
// were stopped at run time. It is pure: the same inputs always give the
// same decision, so the server, the device API and review plans agree.
// It does not allocate on the up-to-date path when the device reports one
// of the fleet's release versions.
func Decide(fleet *Fleet, req Request, halts Halts) Decision {
	d := Decision{Request: req, Stage: -1}
	if req.Platform != "" {
		d.Platform = fleet.Platform(req.Platform)
		if d.Platform == nil {
			return d.done(UnknownPlatform, WhyUnknownPlatform)
		}
	}
	var dev *Device
	if req.Anonymous {
		if d.Platform == nil || !d.Platform.Anonymous {
			return d.done(NotWhitelisted, WhyAnonymous)
		}
		dev = &d.Platform.anonymous
	} else {
		d.Device = fleet.Device(req.MAC)
		if d.Device == nil {
			return d.done(NotWhitelisted, WhyNotWhitelisted)
		}
		if d.Platform == nil {
			d.Platform = fleet.Platform(d.Device.Platform)
		}
		if d.Platform == nil || !strings.EqualFold(d.Platform.Name, d.Device.Platform) {
			return d.done(NotWhitelisted, WhyOtherPlatform)
		}
		dev = d.Device
	}
	cur, err := fleet.ParseDeviceVersion(req.Version)
	if err != nil {
		d.Err = err
		return d.done(BadVersion, WhyBadVersion)
	}
	d.Current = cur
	p := d.Platform
	if p.Paused {
		return d.done(UpToDate, WhyPlatformPaused)
	}
	if dev.Pin != nil {
		return d.pinned(dev, halts)
	}

	for _, r := range p.Releases {
		if !r.Version.GreaterThan(cur) {
			break
		}
		if !MayHave(r, dev) {
			continue
		}
		why, stage, pct := blocked(r, req, cur, halts)
		if why == 0 {
			d.Held, d.Stage, d.Percent = nil, stage, pct
			return d.offer(r, WhyNewer)
		}
		if d.Held == nil {
			d.Held, d.Why, d.Stage, d.Percent = r, why, stage, pct
		}
	}

	if running := p.Release(cur); running != nil && running.Yanked && !p.NoRollback {
		for _, r := range p.Releases {
			if r.Version.LessThan(cur) && MayHave(r, dev) && !r.Paused && !isHalted(halts, r) {
				return d.offer(r, WhyRollback)
			}
		}
	}

	d.Outcome = UpToDate
	for _, r := range p.Releases {
		if !r.Version.GreaterThan(cur) && MayHave(r, dev) {
			d.Release = r
			break
		}
	}
	switch {
	case d.Held != nil:
	case d.Release != nil:
		d.Why = WhyLatest
	default:
		d.Why = WhyNoReleases
	}
	return d
}

// pinned decides for a device pinned to a version: exactly that version,
// even a downgrade, unless it is paused or halted (the kill switch wins).
func (d Decision) pinned(dev *Device, halts Halts) Decision {
	r := d.Platform.Release(dev.Pin)
	switch {
	case r == nil:
		return d.done(UpToDate, WhyNoReleases)
	case r.Paused:
		d.Held = r
		return d.done(UpToDate, WhyPaused)
	case isHalted(halts, r):
		d.Held = r
		return d.done(UpToDate, WhyHalted)
	case r.Version.Equal(d.Current):
		d.Release = r
		return d.done(UpToDate, WhyPinned)
	}
	return d.offer(r, WhyPinned)
}

// offer returns an Update for r unless the device cannot take it or
// already runs it; then it stays UpToDate and keeps working. A filesystem
// request is offered r's filesystem image on the same terms, unless r has
// none or the device took it already.
func (d Decision) offer(r *Release, why Why) Decision {
	d.Release = r
	req := d.Request
	switch {
	case req.Want != nil && !r.Version.Equal(req.Want):
		return d.done(UpToDate, WhyNotPicked)
	case r.Artifact.RunBy(req.SketchMD5):
		return d.done(UpToDate, WhyAlreadyRunning)
	case req.FreeSpace > 0 && r.Artifact.Size > req.FreeSpace:
		return d.done(UpToDate, WhyNoSpace)
	case req.ChipSize > 0 && r.Artifact.FlashSize > req.ChipSize:
		return d.done(UpToDate, WhyFlashTooSmall)
	}
	if req.Mode == ModeFilesystem {
		switch {
		case r.Filesystem == nil:
			return d.done(UpToDate, WhyNoFilesystem)
		case req.FilesystemTaken != "" && req.FilesystemTaken == r.Filesystem.SHA256:
			return d.done(UpToDate, WhyFilesystemTaken)
		}
	}
	return d.done(Update, why)
}

// Served returns the binary an Update sends: the release's filesystem
// image for a filesystem request, its application image otherwise. It is
// nil for other outcomes, and for a version request, which gets no body.
func (d *Decision) Served() *Artifact {
	if d.Outcome != Update || d.Release == nil {
		return nil
	}
	switch d.Request.Mode {
	case ModeFilesystem:
		return d.Release.Filesystem
	case ModeVersion:
		return nil
	}
	return &d.Release.Artifact
}

// RunVersion returns the version the device should be running, for a
// version request (ESP8266 getAvailableVersion()): the version an Update
// offers, or that the device already runs by its sketch MD5; else the
// version it reports, verbatim, since it is to stay on it. The offered
// version is written the way the device writes its own: with a leading
// "v" when it reports one, so that a sketch comparing the two strings
// sees equal versions as equal. It is "" for refusals (403, 404, 400).
func (d *Decision) RunVersion() string {
	switch {
	case d.Outcome == Update, d.Outcome == UpToDate && d.Why == WhyAlreadyRunning:
		v := d.Release.Version.String()
		if t := strings.TrimSpace(d.Request.Version); t != "" && (t[0] == 'v' || t[0] == 'V') {
			v = t[:1] + v
		}
		return v
	case d.Outcome == UpToDate:
		return d.Request.Version
	}
	return ""
}

func (d Decision) done(o Outcome, w Why) Decision {
	d.Outcome, d.Why = o, w
	return d
}

// MayHave reports whether release r is meant for device dev at all,
// whatever its stages, pause or halt: r is not yanked, dev follows r's
// channel or a less stable one, and dev is in one of r's groups when r
// names any. It does not look at platforms or pins: Decide only asks it
// about releases of the device's platform, for devices that are not
// pinned.
func MayHave(r *Release, dev *Device) bool {
	return !r.Yanked && r.Channel <= dev.Channel && inGroups(r.Groups, dev.Groups)
}

// blocked returns why a newer release the device may have is not offered
// now (0 when it is), with the stage in force and its percent.
func blocked(r *Release, req Request, cur *semver.Version, halts Halts) (Why, int, float64) {
	stage, pct := r.StageAt(req.Now)
	switch {
	case r.Paused:
		return WhyPaused, stage, pct
	case isHalted(halts, r):
		return WhyHalted, stage, pct
	case stage < 0 && len(r.Stages) > 0:
		return WhyNotStarted, stage, pct
	case !inCohort(r, req, pct):
		return WhyNotInCohort, stage, pct
	case !r.allowsFrom(cur):
		return WhyFrom, stage, pct
	}
	return 0, stage, pct
}

func isHalted(h Halts, r *Release) bool { return h != nil && h.Halted(r) }

// inCohort reports whether the device of req is in the percent of devices
// offered r. An anonymous device has no MAC to place it in a cohort: it is
// in a stage only once the stage reaches 100%.
func inCohort(r *Release, req Request, percent float64) bool {
	if req.Anonymous {
		return percent >= 100
	}
	return r.InCohort(req.MAC, percent)
}

// Reason explains the decision in one line of text for logs, the API and
// review plans, e.g. "1.3.0: stage 2 of 3, not yet in the 25% cohort".
func (d Decision) Reason() string {
	cur := "?"
	if d.Current != nil {
		cur = d.Current.String()
	}
	return d.ReasonRunning(cur)
}

// ReasonRunning is Reason with running in place of the version the device
// runs, for a review plan that says in one line what several versions get
// ("running 1.0.0 or 1.1.0"). Only the running version is replaced: the
// rest is d's, so running must name versions that all get d's answer.
func (d Decision) ReasonRunning(running string) string {
	rel := func(r *Release) string {
		if r == nil {
			return "?"
		}
		return r.Version.String()
	}
	cur := running
	stage := func() string {
		if d.Held == nil && d.Release == nil {
			return ""
		}
		r := d.Held
		if r == nil {
			r = d.Release
		}
		if len(r.Stages) == 0 || d.Stage < 0 {
			return ""
		}
		return fmt.Sprintf("stage %d of %d, %s%%", StageNumber(d.Stage), len(r.Stages), fmtPercent(d.Percent))
	}
	switch d.Why {
	case WhyNewer:
		s := fmt.Sprintf("%s is the newest release for this device (running %s)", rel(d.Release), cur)
		if st := stage(); st != "" {
			s += "; " + st
		}
		return s
	case WhyPinned:
		if d.Outcome == UpToDate {
			return fmt.Sprintf("pinned to %s, which it runs", rel(d.Release))
		}
		return fmt.Sprintf("pinned to %s (running %s)", rel(d.Release), cur)
	case WhyRollback:
		return fmt.Sprintf("running %s, which is yanked: rolling back to %s", cur, rel(d.Release))
	case WhyLatest:
		return fmt.Sprintf("running %s; the newest release for this device is %s", cur, rel(d.Release))
	case WhyNoReleases:
		if d.Device != nil && d.Device.Pin != nil {
			return fmt.Sprintf("pinned to %s, which is not available", d.Device.Pin)
		}
		return fmt.Sprintf("platform %s has no release for this device", d.Platform.Name)
	case WhyPlatformPaused:
		return fmt.Sprintf("platform %s is paused", d.Platform.Name)
	case WhyPaused:
		return fmt.Sprintf("%s is paused", rel(d.Held))
	case WhyHalted:
		return fmt.Sprintf("%s is halted", rel(d.Held))
	case WhyNotStarted:
		return fmt.Sprintf("%s: staged rollout has not started (stage 1 of %d starts %s after its commit)",
			rel(d.Held), len(d.Held.Stages), fmtDuration(d.Held.Stages[0].After))
	case WhyNotInCohort:
		return fmt.Sprintf("%s: stage %d of %d: not yet in the %s%% cohort", rel(d.Held), StageNumber(d.Stage), len(d.Held.Stages), fmtPercent(d.Percent))
	case WhyFrom:
		return fmt.Sprintf("%s requires a device on %s (running %s)", rel(d.Held), d.Held.From, cur)
	case WhyNoSpace:
		return fmt.Sprintf("%s: image %s > free %s", rel(d.Release), fmtBytes(d.Release.Artifact.Size), fmtBytes(d.Request.FreeSpace))
	case WhyFlashTooSmall:
		return fmt.Sprintf("%s: image needs %s of flash, chip has %s", rel(d.Release), fmtBytes(d.Release.Artifact.FlashSize), fmtBytes(d.Request.ChipSize))
	case WhyAlreadyRunning:
		return fmt.Sprintf("already runs %s (sketch MD5 matches)", rel(d.Release))
	case WhyNotWhitelisted:
		return fmt.Sprintf("device %s is not whitelisted", d.Request.MAC)
	case WhyOtherPlatform:
		return fmt.Sprintf("device %s is whitelisted for platform %s, not %s", d.Request.MAC, d.Device.Platform, d.Request.Platform)
	case WhyUnknownPlatform:
		return fmt.Sprintf("unknown platform %q", d.Request.Platform)
	case WhyBadVersion:
		return fmt.Sprintf("cannot read device version: %v", d.Err)
	case WhyNoFilesystem:
		return fmt.Sprintf("%s has no filesystem image", rel(d.Release))
	case WhyFilesystemTaken:
		return fmt.Sprintf("already took the filesystem image of %s", rel(d.Release))
	case WhyAnonymous:
		if d.Platform == nil {
			return "a device that is in no whitelist must name a platform"
		}
		return fmt.Sprintf("platform %s serves whitelisted devices only (anonymous = true would serve any)", d.Platform.Name)
	case WhyNotPicked:
		var want string
		if d.Request.Want != nil {
			want = d.Request.Want.String()
		}
		return fmt.Sprintf("picked %s, but %s is the release for this device (running %s)", want, rel(d.Release), cur)
	}
	return d.Outcome.String()
}

func fmtPercent(p float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", p), "0"), ".")
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1_000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

func fmtDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 && d > 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
