package checkin

import (
	"time"

	"github.com/otagit/otagit/rollout"
)

// DecisionNow is the decision the server would make for a device if it
// checked in at a given time, and what that assumes about the device.
type DecisionNow struct {
	rollout.Decision
	// Known is false for a device that never checked in: the decision
	// depends on the version it will report, which nobody knows yet, so
	// none is made (Decision is the zero value).
	Known bool
	// Assumes says, in one line of text, what the device is taken to
	// report (what it reported last), or why nothing is decided.
	Assumes string
}

// Unknown is the Assumes text of a device that never checked in.
const Unknown = "unknown version: the device has not checked in, and what it gets depends on the version it will report"

// DecideNow runs the server's decision for dev, a whitelist entry of f, as
// if it checked in at now reporting what it reported last: the version
// and sketch MD5 of its summary sum, and the free space and chip size of
// its last check-in last. sum is nil for a device never seen: then nothing
// is decided (Known is false) rather than guessing a version; last may be
// nil (no history kept). halts (nil for none) are the run-time halts. The
// device API and the dashboard both show this decision, so they agree.
func DecideNow(f *rollout.Fleet, dev *rollout.Device, sum *Device, last *CheckIn, now time.Time, halts rollout.Halts) DecisionNow {
	if sum == nil {
		return DecisionNow{Assumes: Unknown}
	}
	req := rollout.Request{MAC: dev.MAC, Platform: dev.Platform, Now: now, Version: sum.LastVersion, SketchMD5: sum.LastMD5}
	if last != nil {
		req.FreeSpace, req.ChipSize = max(last.FreeSpace, 0), max(last.ChipSize, 0)
	}
	return DecisionNow{
		Decision: rollout.Decide(f, req, halts),
		Known:    true,
		Assumes:  "the device reports what it reported last (version " + sum.LastVersion + ")",
	}
}
