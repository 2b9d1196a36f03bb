package dashboard

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/rollout"
)

func sample(at time.Time, other int, pairs ...any) checkin.AdoptionSample {
	s := checkin.AdoptionSample{At: at, Other: other}
	for i := 0; i < len(pairs); i += 2 {
		s.Versions = append(s.Versions, checkin.VersionCount{Version: pairs[i].(string), Devices: pairs[i+1].(int)})
	}
	return s
}

func lampPlatform(t *testing.T) *rollout.Platform {
	p := &rollout.Platform{Name: "lamp", Releases: []*rollout.Release{rel(t, "lamp", "1.2.0", t0), rel(t, "lamp", "1.1.0", t0), rel(t, "lamp", "1.0.0", t0)}}
	return p
}

func TestAdoptionChart(t *testing.T) {
	p := lampPlatform(t)
	h := time.Hour
	samples := []checkin.AdoptionSample{
		sample(t0, 0, "1.0.0", 10),
		sample(t0.Add(h), 0, "1.0.0", 6, "1.1.0", 4),
		sample(t0.Add(5*h), 1, "1.1.0", 8, "1.0.0", 1),
		sample(t0.Add(5*h+30*time.Minute), 0, "1.2.0", 5, "1.1.0", 4, "1.0.0", 1), // now
	}
	c := newAdoptionChart(p, samples)
	if c.Empty {
		t.Fatal("empty chart")
	}
	var versions []string
	for _, b := range c.Bands {
		versions = append(versions, b.Version)
	}
	if got, want := strings.Join(versions, " "), "1.2.0 1.1.0 1.0.0 other versions"; got != want {
		t.Errorf("bands: got %q, want %q (newest first, other last)", got, want)
	}
	// The bands end with the counts now, drawn over the current hour.
	now := map[string]float64{"1.2.0": 0.5, "1.1.0": 0.4, "1.0.0": 0.1, "other versions": 0}
	for _, b := range c.Bands {
		if math.Abs(b.Now-now[b.Version]) > 1e-9 {
			t.Errorf("%s now: got %v, want %v", b.Version, b.Now, now[b.Version])
		}
		if (b.Label != "") != (b.Now >= 0.06) {
			t.Errorf("%s: label %q at share %v", b.Version, b.Label, b.Now)
		}
		if !strings.HasPrefix(b.D, "M") || !strings.HasSuffix(b.D, "Z") {
			t.Errorf("%s: path %q", b.Version, b.D)
		}
	}
	if c.Bands[0].Style != 0 || c.Bands[1].Style != 1 || c.Bands[3].Style != styleOther {
		t.Errorf("styles: %d %d %d, want releases by rank and other apart", c.Bands[0].Style, c.Bands[1].Style, c.Bands[3].Style)
	}
	if !strings.Contains(c.Desc, "Now: 1.2.0 50%, 1.1.0 40%, 1.0.0 10%") {
		t.Errorf("desc: %q", c.Desc)
	}
	// The table has every step, newest first.
	if len(c.Rows) != 5 || !c.Rows[0].At.Equal(samples[3].At) || c.Rows[0].Shares[0] != "50%" {
		t.Errorf("rows: %+v", c.Rows)
	}
	for _, tk := range c.XTicks {
		if tk.X < c.X0 || tk.X > c.X1 {
			t.Errorf("x tick %+v outside the plot", tk)
		}
	}

	if c := newAdoptionChart(p, nil); !c.Empty {
		t.Error("no samples: not empty")
	}
	// Only the counts now: drawn over the hour before.
	c = newAdoptionChart(p, samples[3:])
	if len(c.Bands) != 3 || c.Bands[0].Now != 0.5 {
		t.Errorf("one sample: %+v", c.Bands)
	}
}

func TestChartSteps(t *testing.T) {
	h := time.Hour
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	times := func(s []checkin.AdoptionSample) string {
		var out []string
		for _, x := range s {
			out = append(out, x.At.Sub(t0).String())
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		name string
		in   []time.Duration
		want string
	}{
		{"now only", []time.Duration{3*h + 20*time.Minute}, "2h20m0s 3h20m0s"},
		{"now in a later hour", []time.Duration{0, h, 5*h + 30*time.Minute}, "0s 1h0m0s 5h0m0s 5h30m0s"},
		{"last sample this hour", []time.Duration{0, 5 * h, 5*h + 40*time.Minute}, "0s 5h0m0s 5h20m0s 5h40m0s"},
	}
	for _, tt := range tests {
		var in []checkin.AdoptionSample
		for _, d := range tt.in {
			in = append(in, sample(at(d), 0, "1.0.0", 1))
		}
		if got := times(chartSteps(in)); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestChartVersionsBounded(t *testing.T) {
	var s checkin.AdoptionSample
	s.At = t0
	for i := range maxBands + 4 {
		s.Versions = append(s.Versions, checkin.VersionCount{Version: fmt.Sprintf("1.%d.0", i), Devices: i + 1})
	}
	versions, other := chartVersions([]checkin.AdoptionSample{s})
	if len(versions) != maxBands || !other || versions[0] != fmt.Sprintf("1.%d.0", maxBands+3) {
		t.Errorf("got %v, %v; want the %d most used, newest first, and other", versions, other, maxBands)
	}
}

func TestTimeline(t *testing.T) {
	day := 24 * time.Hour
	r := rel(t, "lamp", "1.1.0", t0, rollout.Stage{Percent: 10}, rollout.Stage{Percent: 50, After: day}, rollout.Stage{Percent: 100, After: 3 * day})
	tl := newTimeline(r, t0.Add(36*time.Hour), t0.Add(30*time.Hour))
	if tl == nil {
		t.Fatal("no timeline")
	}
	if len(tl.Stages) != 3 {
		t.Fatalf("stages: %+v", tl.Stages)
	}
	for i, s := range tl.Stages {
		if i > 0 && !(s.X > tl.Stages[i-1].X && s.Y < tl.Stages[i-1].Y) {
			t.Errorf("stage %d at %v,%v: not later and higher than the one before", i+1, s.X, s.Y)
		}
		if want := i < 2; s.Started != want {
			t.Errorf("stage %d started: got %v, want %v", i+1, s.Started, want)
		}
	}
	if tl.Now == nil || !(tl.Now.X > tl.Stages[1].X && tl.Now.X < tl.Stages[2].X) {
		t.Errorf("now marker %+v not between stages 2 and 3", tl.Now)
	}
	if tl.Halt == nil || !(tl.Halt.X > tl.Stages[1].X && tl.Halt.X < tl.Now.X) {
		t.Errorf("halt marker %+v not between stage 2 and now", tl.Halt)
	}
	if !strings.Contains(tl.Desc, "stage 2, 50%, from 2026-03-03 00:00 UTC") || !strings.Contains(tl.Desc, "halted 2026-03-03 06:00 UTC") {
		t.Errorf("desc: %q", tl.Desc)
	}
	if newTimeline(rel(t, "lamp", "1.0.0", t0), t0, time.Time{}) != nil {
		t.Error("a release without stages has a timeline")
	}
	if newTimeline(rel(t, "lamp", "1.0.0", time.Time{}, rollout.Stage{Percent: 5}), t0, time.Time{}) != nil {
		t.Error("a release introduced at an unknown time has a timeline")
	}
}

func TestProgressBar(t *testing.T) {
	b := newProgressBar(40, 30, 6, 100)
	var sum float64
	for _, s := range b.Segs {
		sum += s.W
	}
	if math.Abs(sum-progressWidth) > 1e-9 || len(b.Segs) != 4 || b.Segs[0].W != progressWidth*0.3 {
		t.Errorf("segments %+v", b.Segs)
	}
	if want := "30 succeeded, 6 failed, 4 pending of 40 offered; 100 devices in the cohort"; b.Label != want {
		t.Errorf("label: got %q, want %q", b.Label, want)
	}
	if b := newProgressBar(0, 0, 0, -1); len(b.Segs) != 0 {
		t.Errorf("nothing offered: %+v", b.Segs)
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{count(100000), "100,000"}, {count(999), "999"}, {count(-1234), "-1,234"},
		{pct(0.034), "3.4%"}, {pct(0.5), "50%"}, {pct(0), "0%"},
		{ago(t0, t0.Add(90*time.Minute)), "1 h ago"}, {ago(t0, t0.Add(3*24*time.Hour)), "3 days ago"}, {ago(time.Time{}, t0), "never"},
		{until(t0.Add(12*time.Hour), t0), "in 12 h"},
		{string(query("q", "a b", "page", 1, "seen", "")), "?page=1&q=a+b"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
