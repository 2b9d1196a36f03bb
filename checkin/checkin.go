package checkin

import (
	"fmt"
	"time"

	"github.com/otagit/otagit/rollout"
)

// CheckIn is one device request as the server saw and answered it. It is a
// plain value: copies share nothing mutable.
type CheckIn struct {
	// MAC is the device's station MAC address.
	MAC rollout.MAC `json:"mac"`
	// At is when the server answered.
	At time.Time `json:"at"`
	// Platform is the platform the request was decided for (or the one the
	// device named), "" if none.
	Platform string `json:"platform"`
	// Version is the version the device reported, verbatim; "" when the
	// request reported none (see Tracker.Observe).
	Version string `json:"version"`
	// SketchMD5 is the x-*-sketch-md5 header, "" if not sent.
	SketchMD5 string `json:"sketch_md5,omitempty"`
	// FreeSpace is the x-*-free-space header in bytes, -1 if not sent.
	FreeSpace int64 `json:"free_space"`
	// ChipSize is the x-*-chip-size header in bytes, -1 if not sent.
	ChipSize int64 `json:"chip_size"`
	// SDK is the x-*-sdk-version header, "" if not sent.
	SDK string `json:"sdk,omitempty"`
	// Remote is the remote address the request came from.
	Remote string `json:"remote"`
	// Status is the HTTP status answered.
	Status int `json:"status"`
	// Decision names the answer, e.g. "update", "up_to_date",
	// "not_whitelisted" (see rollout.Outcome).
	Decision string `json:"decision"`
	// Offered is the version offered with a 200, "" otherwise.
	Offered string `json:"offered,omitempty"`
	// Reason explains the answer in one line of text.
	Reason string `json:"reason"`
	// Mode is what the device asked for, as rollout.Mode names it:
	// "sketch", "spiffs" (a filesystem image) or "version"; "" in records
	// from before modes were kept, which were all sketch requests.
	Mode string `json:"mode,omitempty"`
	// Filesystem is the SHA-256 of the filesystem image the answer sent in
	// full, "" otherwise.
	Filesystem string `json:"filesystem,omitempty"`
	// Client names the device client and endpoint the check-in came
	// through: "update" (GET /update of the stock updaters),
	// "autoconnect", "fuota", "esp32fota" or "esphome"; "" in records
	// from before clients were kept, which all came through /update.
	Client string `json:"client,omitempty"`
	// Auth is how the request proved its device. Not stored (stores and
	// the codec leave it out): it only decides how Observe counts the
	// check-in.
	Auth Auth `json:"-"`
}

// MaxOutcomes is how many outcomes a Device keeps. Stores keep the first
// MaxOutcomes of Device.Outcomes (the most recent) and drop the rest.
const MaxOutcomes = 20

// Device is the persistent summary of one device, kept by the outcome
// tracker and loaded back at start-up. A Store keeps one per MAC; saving a
// Device replaces the previous one. Outcomes and Offer are owned by whoever
// holds the value: Stores copy them on Save and on load.
type Device struct {
	// MAC is the device's station MAC address.
	MAC rollout.MAC `json:"mac"`
	// Platform is the platform the device was last decided for.
	Platform string `json:"platform"`
	// FirstSeen and LastSeen are the times of its first and latest check-in.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// LastVersion and LastMD5 are the version and sketch MD5 it reported
	// last.
	LastVersion string `json:"last_version"`
	LastMD5     string `json:"last_md5"`
	// Offer is the update offered and not yet resolved, nil if none.
	Offer *Offer `json:"offer,omitempty"`
	// Outcomes are resolved offers, most recent first, at most MaxOutcomes.
	Outcomes []Outcome `json:"outcomes,omitempty"`
	// Filesystem is the last filesystem image sent to the device in full,
	// nil if none.
	Filesystem *FilesystemSent `json:"filesystem,omitempty"`
}

// FilesystemSent records a filesystem image the server sent a device in
// full. A device that asks for the same image again is not sent it (see
// rollout.Request.FilesystemTaken): a device whose app update has not gone
// through yet asks with its old version, and would otherwise get the same
// filesystem on every poll (a reboot loop under ESP8266 ATOMIC_FS_UPDATE).
type FilesystemSent struct {
	// Platform and Version name the release whose filesystem it was.
	Platform string `json:"platform"`
	Version  string `json:"version"`
	// SHA256 is the image's digest.
	SHA256 string `json:"sha256"`
	// At is when it was sent.
	At time.Time `json:"at"`
}

// Offer is an update the server offered a device, waiting to be resolved
// into an Outcome by the device's later check-ins.
type Offer struct {
	// Platform and Version name the release offered (see Release); MD5 is
	// the sketch MD5 the device reports once it runs the offered image
	// (rollout.Artifact.SketchMD5: for a compressed or signed image not
	// the MD5 of the download).
	Platform string `json:"platform"`
	Version  string `json:"version"`
	MD5      string `json:"md5"`
	// FromVersion is the version the device ran when it was offered.
	FromVersion string `json:"from_version"`
	// Stage is the rollout stage the offer was made in.
	Stage int `json:"stage"`
	// At is when the offer was first made.
	At time.Time `json:"at"`
	// Attempts counts the check-ins that got this offer.
	Attempts int `json:"attempts"`
}

// Release returns the release offered; the zero ReleaseID if the record's
// version cannot be read.
func (o Offer) Release() rollout.ReleaseID { return releaseOf(o.Platform, o.Version) }

// Outcome is how an offer ended.
type Outcome struct {
	// Platform and Version name the release that was offered (see
	// Release).
	Platform string `json:"platform"`
	Version  string `json:"version"`
	// FromVersion is the version the device ran when it was offered.
	FromVersion string `json:"from_version"`
	// Stage is the rollout stage the offer was made in.
	Stage int `json:"stage"`
	// Result says whether the device came back running the release.
	Result Result `json:"result"`
	// At is when the outcome was decided.
	At time.Time `json:"at"`
}

// Release returns the release that was offered; the zero ReleaseID if the
// record's version cannot be read.
func (o Outcome) Release() rollout.ReleaseID { return releaseOf(o.Platform, o.Version) }

// Result is whether an offered update took. The zero Result is not a valid
// result.
type Result uint8

// The results of an offer.
const (
	// Success: the device checked in running the offered version.
	Success Result = iota + 1
	// Failure: the device kept checking in with its old version.
	Failure
)

// String returns "success" or "failure", the names used in logs and JSON.
func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Failure:
		return "failure"
	}
	return fmt.Sprintf("result(%d)", uint8(r))
}

// MarshalText implements encoding.TextMarshaler with String.
func (r Result) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts "success"
// and "failure".
func (r *Result) UnmarshalText(b []byte) error {
	switch string(b) {
	case "success":
		*r = Success
	case "failure":
		*r = Failure
	default:
		return fmt.Errorf("%q is not a result (success, failure)", b)
	}
	return nil
}

// Halt records that a release was stopped, automatically or by an
// operator, or, by its Kind, that the release's outcome counts were
// reset. A Store keeps at most one Halt per platform and version, so a
// release's reset replaces its halt.
type Halt struct {
	// Platform and Version name the release (see Release).
	Platform string `json:"platform"`
	Version  string `json:"version"`
	// Kind says whether the record is a halt or a reset of the counts. The
	// zero Kind is Stopped.
	Kind HaltKind `json:"-"`
	// Fingerprint identifies the release's config when it was halted, so
	// that a changed release clears the halt.
	Fingerprint string `json:"fingerprint"`
	// Stage is the rollout stage the release was halted in (0 and up, or
	// -1 for a release without stages); 0 for a CountsReset.
	Stage int `json:"stage"`
	// Failed and Total are the failed and all resolved offers counted when
	// the release was halted.
	Failed int `json:"failed"`
	Total  int `json:"total"`
	// Reason explains the halt in one line of text.
	Reason string `json:"reason"`
	// At is when the release was halted, or when its counts start again.
	At time.Time `json:"at"`
}

// HaltKind is what a Halt record stands for.
type HaltKind uint8

// The kinds of Halt records.
const (
	// Stopped: the release is halted; it is not offered.
	Stopped HaltKind = iota
	// CountsReset: the release is not halted; its outcome counts start
	// afresh at the record's At, because an operator resumed it or a
	// commit changed it. Outcomes before that time do not count toward a
	// new halt, also after a restart.
	CountsReset
)

// Release returns the halted release; the zero ReleaseID if the record's
// version cannot be read.
func (h Halt) Release() rollout.ReleaseID { return releaseOf(h.Platform, h.Version) }

// releaseOf names the release of a record. The tracker writes records
// from release identities, but records written by older versions may have
// a version with build metadata, which must name the same release.
func releaseOf(platform, version string) rollout.ReleaseID {
	id, err := rollout.ParseReleaseID(platform, version)
	if err != nil {
		return rollout.ReleaseID{}
	}
	return id
}

// isZero reports whether d is the zero Device, which Writer.Add takes to
// mean "no summary".
func (d *Device) isZero() bool {
	return d.MAC == rollout.MAC{} && d.Platform == "" && d.FirstSeen.IsZero() && d.LastSeen.IsZero() &&
		d.LastVersion == "" && d.LastMD5 == "" && d.Offer == nil && len(d.Outcomes) == 0 && d.Filesystem == nil
}
