package rollout

import "encoding/json"

// StageNumber is how people and the operator JSON number the stage with
// index i (0-based, as Decision.Stage and StageCounts.Stage hold it): 1 for
// the first stage, 0 for a release without stages (index -1). Messages
// ("stage 2 of 3") and the JSON agree because both use it.
func StageNumber(i int) int {
	if i < 0 {
		return 0
	}
	return i + 1
}

// StageIndex is the inverse of StageNumber: the 0-based index of stage
// number n, -1 for 0 (no stages).
func StageIndex(n int) int {
	if n <= 0 {
		return -1
	}
	return n - 1
}

// MarshalJSON writes the counts with the stage numbered as StageNumber
// numbers it.
func (s StageCounts) MarshalJSON() ([]byte, error) {
	type plain StageCounts
	p := plain(s)
	p.Stage = StageNumber(s.Stage)
	return json.Marshal(p)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *StageCounts) UnmarshalJSON(b []byte) error {
	type plain StageCounts
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = StageCounts(p)
	s.Stage = StageIndex(p.Stage)
	return nil
}
