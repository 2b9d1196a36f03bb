package dashboard

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/otagit/otagit/rollout"
)

// timeline is a staged release's rollout over time: the percentage of
// the fleet that may have it, stepping up at each stage's start, with a
// marker for now and one for a halt.
type timeline struct {
	Title, Desc          string
	W, H, X0, X1, Y0, Y1 float64
	// Step and Area are SVG paths of the percentage over time.
	Step, Area string
	Stages     []stageMark
	XTicks     []tick
	YTicks     []tick
	Now        *timeMark
	Halt       *timeMark
}

type stageMark struct {
	X, Y  float64
	Label string
	// Started is set once the stage's start has passed.
	Started bool
}

type timeMark struct {
	X     float64
	Label string
}

// newTimeline draws r's stages; haltAt is when it was halted, zero if not.
// It returns nil for a release without stages or whose introduction is
// unknown: stages count from it.
func newTimeline(r *rollout.Release, now, haltAt time.Time) *timeline {
	if len(r.Stages) == 0 || r.IntroducedAt.IsZero() {
		return nil
	}
	tl := &timeline{W: 760, H: 150, X0: 48, X1: 700, Y0: 14, Y1: 112}
	tl.Title = "Stage timeline of " + r.Platform + " " + r.Version.String()
	start := r.IntroducedAt
	end := start.Add(r.Stages[len(r.Stages)-1].After)
	for _, t := range []time.Time{now, haltAt} {
		if t.After(end) {
			end = t
		}
	}
	span := end.Sub(start)
	if span <= 0 {
		span = time.Hour
	}
	// Room after the last event, so that its label fits.
	end = end.Add(span / 8)
	span = end.Sub(start)
	first := start
	if now.Before(first) {
		first = now
		span = end.Sub(first)
	}
	xOf := func(t time.Time) float64 { return tl.X0 + (tl.X1-tl.X0)*float64(t.Sub(first))/float64(span) }
	yOf := func(p float64) float64 { return tl.Y1 - (tl.Y1-tl.Y0)*p/100 }

	var step strings.Builder
	fmt.Fprintf(&step, "M%.1f %.1f", xOf(start), yOf(0))
	var words []string
	level := yOf(0) // before the first stage, nobody may have it
	for i, s := range r.Stages {
		at := start.Add(s.After)
		x, y := xOf(at), yOf(s.Percent)
		fmt.Fprintf(&step, " L%.1f %.1f L%.1f %.1f", x, level, x, y)
		level = y
		label := strconv.Itoa(i+1) + ": " + strconv.FormatFloat(s.Percent, 'f', -1, 64) + "%"
		tl.Stages = append(tl.Stages, stageMark{X: x, Y: y, Label: label, Started: !at.After(now)})
		words = append(words, fmt.Sprintf("stage %d, %s%%, from %s", i+1, strconv.FormatFloat(s.Percent, 'f', -1, 64), when(at)))
	}
	fmt.Fprintf(&step, " L%.1f %.1f", xOf(end), yOf(r.Stages[len(r.Stages)-1].Percent))
	tl.Step = step.String()
	tl.Area = tl.Step + fmt.Sprintf(" L%.1f %.1f L%.1f %.1f Z", xOf(end), yOf(0), xOf(start), yOf(0))
	tl.YTicks = []tick{{Y: yOf(0), Label: "0%"}, {Y: yOf(50), Label: "50%"}, {Y: yOf(100), Label: "100%"}}
	for _, t := range timeTicks(first, end, 6) {
		tl.XTicks = append(tl.XTicks, tick{X: xOf(t.at), Label: t.label})
	}
	tl.Now = &timeMark{X: xOf(now), Label: "now"}
	desc := "Introduced " + when(start) + "; " + strings.Join(words, "; ") + "; now " + when(now)
	if !haltAt.IsZero() {
		tl.Halt = &timeMark{X: xOf(haltAt), Label: "halted"}
		desc += "; halted " + when(haltAt)
	}
	tl.Desc = desc + "."
	return tl
}
