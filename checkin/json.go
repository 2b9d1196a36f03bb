package checkin

import (
	"encoding/json"

	"github.com/otagit/otagit/rollout"
)

// The operator JSON numbers stages from 1, as messages do
// (rollout.StageNumber); the records keep 0-based indexes. These methods
// convert, so every document that embeds an Offer, Outcome or Halt agrees.

// MarshalJSON writes the offer with its stage numbered from 1.
func (o Offer) MarshalJSON() ([]byte, error) {
	type plain Offer
	p := plain(o)
	p.Stage = rollout.StageNumber(o.Stage)
	return json.Marshal(p)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (o *Offer) UnmarshalJSON(b []byte) error {
	type plain Offer
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*o = Offer(p)
	o.Stage = rollout.StageIndex(p.Stage)
	return nil
}

// MarshalJSON writes the outcome with its stage numbered from 1.
func (o Outcome) MarshalJSON() ([]byte, error) {
	type plain Outcome
	p := plain(o)
	p.Stage = rollout.StageNumber(o.Stage)
	return json.Marshal(p)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (o *Outcome) UnmarshalJSON(b []byte) error {
	type plain Outcome
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*o = Outcome(p)
	o.Stage = rollout.StageIndex(p.Stage)
	return nil
}

// MarshalJSON writes the halt with its stage numbered from 1.
func (h Halt) MarshalJSON() ([]byte, error) {
	type plain Halt
	p := plain(h)
	p.Stage = rollout.StageNumber(h.Stage)
	return json.Marshal(p)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (h *Halt) UnmarshalJSON(b []byte) error {
	type plain Halt
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*h = Halt(p)
	h.Stage = rollout.StageIndex(p.Stage)
	return nil
}
