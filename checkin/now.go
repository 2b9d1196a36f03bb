package checkin

import (
	"time"

	"github.com/otagit/otagit/rollout"
)

// DecisionNow is the decision the server would make for a device if it
// checked in at a given time, and what that assumes about the device.
type DecisionNow struct {
	rollout.Decision
	// Assumes says, in one line of text, what the device is taken to
	// report: what it reported last, or no release when it never checked
	// in.
	Assumes string
}

// DecideNow runs the server's decision for dev, a whitelist entry of f, as
// if it checked in at now reporting what it reported last: the version
// and sketch MD5 of its summary sum, and the free space and chip size of
// its last check-in last. sum and last may be nil (never seen, or no
// history kept); a device never seen is taken to run version 0.0.0, no
// release yet. halts (nil for none) are the run-time halts. The device
// API and the dashboard both show this decision, so they agree.
func DecideNow(f *rollout.Fleet, dev *rollout.Device, sum *Device, last *CheckIn, now time.Time, halts rollout.Halts) DecisionNow {
	req := rollout.Request{MAC: dev.MAC, Platform: dev.Platform, Now: now, Version: "0.0.0"}
	assumes := "the device runs no release yet (it has not checked in)"
	if sum != nil {
		req.Version, req.SketchMD5 = sum.LastVersion, sum.LastMD5
		assumes = "the device reports what it reported last (version " + sum.LastVersion + ")"
	}
	if last != nil {
		req.FreeSpace, req.ChipSize = max(last.FreeSpace, 0), max(last.ChipSize, 0)
	}
	return DecisionNow{Decision: rollout.Decide(f, req, halts), Assumes: assumes}
}
