package plan

import (
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/gitstore"
)

// Result is a plan and what it compares.
type Result struct {
	Header Header
	Plan   Plan
}

// Valid reports whether the head loads.
func (r *Result) Valid() bool { return len(r.Header.HeadProblems) == 0 }

// FromSnapshots plans the change from base to head, two loaded commits
// (a snapshot's Fleet is nil when it has errors); headProbs are the head's
// problems. in supplies the time, halts and reported versions; its Base
// and Head are ignored.
func FromSnapshots(base, head *gitstore.Snapshot, headProbs config.Problems, in Input) *Result {
	res := &Result{Header: Header{Base: base.ShortCommit(), Head: head.ShortCommit(), At: in.Now, BaseInvalid: base.Fleet == nil}}
	for _, p := range headProbs.Errors() {
		res.Header.HeadProblems = append(res.Header.HeadProblems, p.String())
	}
	for _, p := range headProbs.Warnings() {
		res.Header.HeadWarnings = append(res.Header.HeadWarnings, p.String())
	}
	if head.Fleet == nil {
		return res
	}
	in.Base, in.Head = base.Fleet, head.Fleet
	res.Plan = Make(in)
	return res
}
