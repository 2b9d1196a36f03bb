package rollout

import "fmt"

// StageCounts are the outcomes of a release's offers in one stage: the
// devices offered it there, and those devices by their latest outcome. A
// device counts in the stage it was first offered the release in.
type StageCounts struct {
	// Stage is the stage index (0-based; -1 for a release without stages).
	// JSON numbers it from 1 (see StageNumber).
	Stage int `json:"stage"`
	// Offered counts devices offered the release in this stage.
	Offered int `json:"offered"`
	// Succeeded and Failed count those devices by their latest outcome.
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

// Decided counts the outcomes known: Succeeded plus Failed.
func (s StageCounts) Decided() int { return s.Succeeded + s.Failed }

// FailureRate is Failed over the decided outcomes, 0 when none.
func (s StageCounts) FailureRate() float64 {
	if s.Decided() == 0 {
		return 0
	}
	return float64(s.Failed) / float64(s.Decided())
}

// AutoHalts reports whether the release halts itself on failures, that
// is, whether it sets a failure threshold.
func (r *Release) AutoHalts() bool { return r.HaltOnFailure > 0 }

// HaltVerdict decides whether the counts of one of r's stages halt r: they
// do when the stage has at least r.HaltMinDevices decided outcomes and
// their failure rate reaches r.HaltOnFailure. The reason says why in one
// line, e.g. "stage 2: 5 of 93 updates failed (5.4%), over the 5%
// threshold"; it is "" when r is not halted. HaltVerdict is pure, and
// allocates only for a halt's reason.
func HaltVerdict(r *Release, st StageCounts) (halt bool, reason string) {
	if !r.AutoHalts() || st.Decided() < r.HaltMinDevices || st.FailureRate() < r.HaltOnFailure {
		return false, ""
	}
	return true, fmt.Sprintf("%s: %d of %d updates failed (%.1f%%), over the %g%% threshold",
		stageName(st.Stage), st.Failed, st.Decided(), st.FailureRate()*100, r.HaltOnFailure*100)
}

// stageName names a stage index for people.
func stageName(stage int) string {
	if stage < 0 {
		return "all devices (no stages)"
	}
	return fmt.Sprintf("stage %d", StageNumber(stage))
}
