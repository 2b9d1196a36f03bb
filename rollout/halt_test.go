package rollout

import "testing"

func TestHaltVerdict(t *testing.T) {
	rel := func(threshold float64, min int) *Release {
		return &Release{Platform: "lamp", Version: mustVersion(t, "1.1.0"), HaltOnFailure: threshold, HaltMinDevices: min}
	}
	tests := []struct {
		name   string
		r      *Release
		st     StageCounts
		halt   bool
		reason string
	}{
		{"over the threshold", rel(0.05, 20), StageCounts{Stage: 1, Offered: 100, Succeeded: 88, Failed: 5},
			true, "stage 2: 5 of 93 updates failed (5.4%), over the 5% threshold"},
		{"at the threshold halts", rel(0.05, 20), StageCounts{Stage: 0, Offered: 40, Succeeded: 19, Failed: 1},
			true, "stage 1: 1 of 20 updates failed (5.0%), over the 5% threshold"},
		{"under the threshold", rel(0.05, 20), StageCounts{Stage: 1, Offered: 100, Succeeded: 96, Failed: 4}, false, ""},
		{"too few outcomes", rel(0.05, 20), StageCounts{Stage: 1, Offered: 100, Succeeded: 0, Failed: 19}, false, ""},
		{"just enough outcomes", rel(0.5, 2), StageCounts{Stage: -1, Offered: 2, Failed: 2},
			true, "all devices (no stages): 2 of 2 updates failed (100.0%), over the 50% threshold"},
		{"pending offers do not count", rel(0.5, 2), StageCounts{Stage: -1, Offered: 10, Failed: 1}, false, ""},
		{"no threshold: never", rel(0, 0), StageCounts{Stage: 0, Offered: 10, Failed: 10}, false, ""},
		{"no outcomes, no minimum", rel(0.1, 0), StageCounts{Stage: 0}, false, ""},
		{"fractional threshold", rel(0.025, 1), StageCounts{Stage: 2, Offered: 40, Succeeded: 39, Failed: 1},
			true, "stage 3: 1 of 40 updates failed (2.5%), over the 2.5% threshold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			halt, reason := HaltVerdict(tt.r, tt.st)
			if halt != tt.halt || reason != tt.reason {
				t.Errorf("HaltVerdict(%g over %d, %+v): got %v %q, want %v %q",
					tt.r.HaltOnFailure, tt.r.HaltMinDevices, tt.st, halt, reason, tt.halt, tt.reason)
			}
		})
	}
}

func TestStageCountsFailureRate(t *testing.T) {
	tests := []struct {
		st   StageCounts
		want float64
	}{
		{StageCounts{}, 0},
		{StageCounts{Offered: 5}, 0},
		{StageCounts{Succeeded: 3, Failed: 1}, 0.25},
		{StageCounts{Failed: 2}, 1},
	}
	for _, tt := range tests {
		if got := tt.st.FailureRate(); got != tt.want {
			t.Errorf("%+v.FailureRate(): got %v, want %v", tt.st, got, tt.want)
		}
	}
}
