package dashboard

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/rollout"
)

// Fills: versions are told apart by a fill (colour and pattern, see
// style.css) and always by a text label, so that a chart reads without
// colour. A platform's releases get fills by rank, newest first, so that
// one version looks the same on every page; other versions share one.
const (
	numStyles  = 8
	styleOther = numStyles // versions that are no release, or past the eighth
)

// styler gives each version of a platform its fill.
type styler map[string]int

func newStyler(p *rollout.Platform) styler {
	s := styler{}
	for i, r := range p.Releases {
		if i >= numStyles {
			break
		}
		s[rollout.VersionKey(r.Version)] = i
	}
	return s
}

func (s styler) of(version string) int {
	if i, ok := s[version]; ok {
		return i
	}
	return styleOther
}

// shareBar is a horizontal bar of the versions devices run now.
type shareBar struct {
	Segs  []shareSeg
	Total int
	// Label says it all in words, for screen readers and without colour.
	Label string
}

type shareSeg struct {
	X, W    float64 // in percent of the bar
	Style   int
	Version string
	Devices int
	Share   float64
}

// shareBarWidth is the bar's width in the SVG's units.
const shareBarWidth = 240

func newShareBar(p *rollout.Platform, counts []checkin.VersionCount) shareBar {
	var b shareBar
	for _, c := range counts {
		b.Total += c.Devices
	}
	if b.Total == 0 {
		return b
	}
	st := newStyler(p)
	x := 0.0
	words := make([]string, 0, 4)
	for i, c := range counts {
		share := float64(c.Devices) / float64(b.Total)
		seg := shareSeg{X: x * shareBarWidth, W: share * shareBarWidth, Style: st.of(c.Version), Version: c.Version, Devices: c.Devices, Share: share}
		b.Segs = append(b.Segs, seg)
		x += share
		if i < 4 {
			words = append(words, c.Version+" "+pct(share))
		}
	}
	if len(counts) > 4 {
		words = append(words, "others")
	}
	b.Label = strings.Join(words, ", ")
	return b
}

// adoptionChart is the share of a platform's devices on each version over
// time: a stacked step chart (the counts change only at check-ins, and
// each sample holds until the next), newest version on top.
type adoptionChart struct {
	Empty bool
	// Title and Desc are the SVG's accessible name and description.
	Title, Desc string
	// W and H are the SVG's size; the plot spans X0-X1 and Y0-Y1.
	W, H, X0, X1, Y0, Y1 float64
	Bands                []band
	XTicks, YTicks       []tick
	// Table is the data, newest first, for reading without the picture.
	Versions []string
	Rows     []adoptionRow
	// More counts the samples left out of Rows.
	More int
}

type band struct {
	Version string
	Style   int
	D       string // the SVG path
	// Label is drawn right of the plot, at LabelY, when the band is tall
	// enough there.
	Label  string
	LabelY float64
	// Now is the version's share at the end.
	Now     float64
	Devices int
}

type tick struct {
	X, Y  float64
	Label string
}

type adoptionRow struct {
	At     time.Time
	Total  int
	Shares []string // by Versions
}

// maxBands is how many versions get a band; the rest share one.
const maxBands = 7

// maxTableRows bounds the chart's data table.
const maxTableRows = 48

// newAdoptionChart draws samples (oldest first, the last one now) of p.
func newAdoptionChart(p *rollout.Platform, samples []checkin.AdoptionSample) adoptionChart {
	c := adoptionChart{W: 760, H: 260, X0: 48, X1: 640, Y0: 12, Y1: 228}
	c.Title = "Share of " + p.Name + " devices on each version over time"
	if len(samples) == 0 {
		c.Empty = true
		return c
	}
	samples = chartSteps(samples)
	versions, other := chartVersions(samples)
	st := newStyler(p)
	// shares[i][j]: sample i, version j (the last column is "other").
	cols := len(versions) + 1
	shares := make([][]float64, len(samples))
	for i, s := range samples {
		row := make([]float64, cols)
		total := s.Total()
		if total > 0 {
			row[cols-1] = float64(s.Other) / float64(total)
			for _, v := range s.Versions {
				j := slices.Index(versions, v.Version)
				if j < 0 {
					j = cols - 1
				}
				row[j] += float64(v.Devices) / float64(total)
			}
		}
		shares[i] = row
	}
	t0, t1 := samples[0].At, samples[len(samples)-1].At
	span := t1.Sub(t0)
	if span <= 0 {
		span = time.Hour
		t0 = t1.Add(-span)
	}
	xOf := func(t time.Time) float64 {
		return c.X0 + (c.X1-c.X0)*float64(t.Sub(t0))/float64(span)
	}
	yOf := func(share float64) float64 { return c.Y1 - (c.Y1-c.Y0)*share }

	// Stack from the bottom: "other" first, then versions oldest first.
	order := []int{cols - 1}
	for j := len(versions) - 1; j >= 0; j-- {
		order = append(order, j)
	}
	below := make([]float64, len(samples))
	last := len(samples) - 1
	for _, j := range order {
		if j == cols-1 && !other {
			continue
		}
		var upper, lower strings.Builder
		for i := 0; i < last; i++ {
			xa, xb := xOf(samples[i].At), xOf(samples[i+1].At)
			top := yOf(below[i] + shares[i][j])
			fmt.Fprintf(&upper, "L%.1f %.1f L%.1f %.1f ", xa, top, xb, top)
		}
		for i := last - 1; i >= 0; i-- {
			xa, xb := xOf(samples[i].At), xOf(samples[i+1].At)
			bot := yOf(below[i])
			fmt.Fprintf(&lower, "L%.1f %.1f L%.1f %.1f ", xb, bot, xa, bot)
		}
		d := "M" + strings.TrimPrefix(upper.String(), "L") + lower.String() + "Z"
		b := band{D: d, Style: styleOther, Version: "other versions", Now: shares[last-1][j]}
		if j < len(versions) {
			b.Version, b.Style = versions[j], st.of(versions[j])
		}
		for _, v := range samples[last].Versions {
			if v.Version == b.Version {
				b.Devices = v.Devices
			}
		}
		if j == cols-1 {
			b.Devices = samples[last].Other
		}
		mid := below[last-1] + shares[last-1][j]/2
		b.Label = b.Version + " " + pct(b.Now)
		b.LabelY = yOf(mid) + 4
		if b.Now < 0.06 {
			b.Label = "" // too thin to label; the legend has it
		}
		c.Bands = append(c.Bands, b)
		for i := range below {
			below[i] += shares[i][j]
		}
	}
	// Newest on top in the legend, as in the picture.
	slices.Reverse(c.Bands)
	c.YTicks = []tick{{Y: yOf(0), Label: "0%"}, {Y: yOf(0.25), Label: "25%"}, {Y: yOf(0.5), Label: "50%"}, {Y: yOf(0.75), Label: "75%"}, {Y: yOf(1), Label: "100%"}}
	for _, t := range timeTicks(t0, t1, 6) {
		c.XTicks = append(c.XTicks, tick{X: xOf(t.at), Label: t.label})
	}
	var now []string
	for _, b := range c.Bands {
		now = append(now, b.Version+" "+pct(b.Now))
	}
	c.Desc = fmt.Sprintf("From %s to %s. Now: %s.", when(t0), when(t1), strings.Join(now, ", "))

	c.Versions = append(slices.Clone(versions), "other")
	for i := len(samples) - 1; i >= 0; i-- {
		if len(c.Rows) == maxTableRows {
			c.More = i + 1
			break
		}
		row := adoptionRow{At: samples[i].At, Total: samples[i].Total()}
		for j := range cols {
			row.Shares = append(row.Shares, pct(shares[i][j]))
		}
		c.Rows = append(c.Rows, row)
	}
	return c
}

// chartSteps returns the steps to draw, each holding from its time to the
// next one's; the last only marks the end. The stored samples are the
// counts at hour boundaries, so everything that changed since the last
// one changed in the current hour: the counts now are drawn over it (or,
// when the last sample is of this hour, over the second half of the time
// since). With only the counts now, they are drawn over the hour before.
func chartSteps(samples []checkin.AdoptionSample) []checkin.AdoptionSample {
	n := len(samples)
	now := samples[n-1]
	if n == 1 {
		first := now
		first.At = now.At.Add(-time.Hour)
		return []checkin.AdoptionSample{first, now}
	}
	prev := samples[n-2].At
	from := now.At.Truncate(time.Hour)
	if !from.After(prev) {
		from = prev.Add(now.At.Sub(prev) / 2)
	}
	if !from.Before(now.At) {
		return samples
	}
	step := now
	step.At = from
	out := slices.Clip(samples[:n-1])
	return append(out, step, now)
}

// chartVersions returns the versions that get a band, newest first (by
// semver; strings that are no version last), and whether any device is
// on another.
func chartVersions(samples []checkin.AdoptionSample) (versions []string, other bool) {
	peak := map[string]float64{}
	for _, s := range samples {
		total := s.Total()
		if total == 0 {
			continue
		}
		if s.Other > 0 {
			other = true
		}
		for _, v := range s.Versions {
			peak[v.Version] = max(peak[v.Version], float64(v.Devices)/float64(total))
		}
	}
	for v := range peak {
		versions = append(versions, v)
	}
	// The versions that were ever most widespread get bands.
	slices.SortFunc(versions, func(a, b string) int {
		if peak[a] != peak[b] {
			if peak[a] > peak[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	if len(versions) > maxBands {
		versions, other = versions[:maxBands], true
	}
	slices.SortFunc(versions, compareVersions)
	return versions, other
}

// compareVersions orders version strings newest first; strings that are
// not versions come last, in text order.
func compareVersions(a, b string) int {
	va, ea := semver.NewVersion(a)
	vb, eb := semver.NewVersion(b)
	switch {
	case ea == nil && eb == nil:
		if c := vb.Compare(va); c != 0 {
			return c
		}
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return strings.Compare(a, b)
}

type timeTick struct {
	at    time.Time
	label string
}

// timeTicks returns at most n round times between t0 and t1, labelled
// with the hour or the day as the span calls for.
func timeTicks(t0, t1 time.Time, n int) []timeTick {
	span := t1.Sub(t0)
	steps := []time.Duration{time.Minute * 10, time.Minute * 30, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
		24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= time.Duration(n) {
			step = s
			break
		}
	}
	var out []timeTick
	first := t0.UTC().Truncate(step)
	if first.Before(t0) {
		first = first.Add(step)
	}
	for t := first; !t.After(t1) && len(out) <= n; t = t.Add(step) {
		label := t.Format("15:04")
		if step >= 24*time.Hour || (t.Hour() == 0 && t.Minute() == 0) {
			label = t.Format("Jan 2")
		}
		out = append(out, timeTick{at: t, label: label})
	}
	return out
}

// progressBar is a stage's devices: succeeded, failed and pending of the
// offered, and the devices of its cohort not offered yet.
type progressBar struct {
	Segs  []progressSeg
	Label string
}

type progressSeg struct {
	X, W  float64
	Class string
	What  string
}

const progressWidth = 220

// newProgressBar draws counts of a stage whose cohort brings in cohort
// devices (-1 when not known).
func newProgressBar(offered, succeeded, failed, cohort int) progressBar {
	pending := max(offered-succeeded-failed, 0)
	whole := max(offered, cohort, 1)
	var b progressBar
	x := 0.0
	add := func(n int, class, what string) {
		if n <= 0 {
			return
		}
		w := float64(n) / float64(whole) * progressWidth
		b.Segs = append(b.Segs, progressSeg{X: x, W: w, Class: class, What: strconv.Itoa(n) + " " + what})
		x += w
	}
	add(succeeded, "ok", "succeeded")
	add(failed, "bad", "failed")
	add(pending, "pending", "pending")
	if cohort > offered {
		add(cohort-offered, "rest", "not offered yet")
	}
	words := []string{strconv.Itoa(succeeded) + " succeeded", strconv.Itoa(failed) + " failed", strconv.Itoa(pending) + " pending"}
	b.Label = strings.Join(words, ", ") + " of " + strconv.Itoa(offered) + " offered"
	if cohort >= 0 {
		b.Label += "; " + strconv.Itoa(cohort) + " devices in the cohort"
	}
	return b
}
