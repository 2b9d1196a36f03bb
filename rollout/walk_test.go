package rollout

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
)

func versionsOf(rs []*Release) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Version.String())
	}
	return out
}

func TestWalk(t *testing.T) {
	fx := newPolicyFixture(t, nil)
	late := t0.Add(100 * time.Hour) // 1.3.0 is at 100%
	tests := []struct {
		name     string
		req      Request
		halts    Halts
		first    Why
		installs []string
		last     Why
	}{
		// 1.3.0 needs >=1.2.0, so a device on 1.0.0 gets there in two steps.
		{"upgrade path", Request{MAC: fx.plain, Version: "1.0.0", Now: late}, nil, WhyNewer, []string{"1.2.0", "1.3.0"}, WhyLatest},
		// A yanked release is left upwards, not rolled back, when a newer
		// release takes the device.
		{"yanked", Request{MAC: fx.plain, Version: "1.1.0", Now: late}, nil, WhyNewer, []string{"1.2.0", "1.3.0"}, WhyLatest},
		{"up to date", Request{MAC: fx.plain, Version: "1.3.0", Now: late}, nil, WhyLatest, nil, WhyLatest},
		{"halted on the way", Request{MAC: fx.plain, Version: "1.0.0", Now: late}, haltSet{"lamp@1.3.0": true}, WhyNewer, []string{"1.2.0"}, WhyHalted},
		{"pinned downgrade", Request{MAC: fx.pinned, Version: "1.2.0", Now: late}, nil, WhyPinned, []string{"1.0.0"}, WhyPinned},
		{"not whitelisted", Request{MAC: MAC{1, 2, 3, 4, 5, 6}, Version: "1.0.0", Now: late}, nil, WhyNotWhitelisted, nil, WhyNotWhitelisted},
		{"bad version", Request{MAC: fx.plain, Version: "one", Now: late}, nil, WhyBadVersion, nil, WhyBadVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Walk(fx.fleet, tt.req, tt.halts)
			if d := Decide(fx.fleet, tt.req, tt.halts); p.First.Reason() != d.Reason() || p.First.Release != d.Release || p.First.Held != d.Held {
				t.Errorf("First is not Decide's answer: %+v, want %+v", p.First, d)
			}
			if p.First.Why != tt.first || p.Last.Why != tt.last || p.Loop {
				t.Errorf("first %s, last %s, loop %v; want %s, %s", p.First.Why, p.Last.Why, p.Loop, tt.first, tt.last)
			}
			if got := versionsOf(p.Installs); !slices.Equal(got, tt.installs) {
				t.Errorf("installs %v, want %v", got, tt.installs)
			}
			if len(tt.installs) == 0 {
				if p.Last.Reason() != p.First.Reason() || p.Ends() != nil {
					t.Errorf("nothing installed, yet Last %+v, Ends %v", p.Last, p.Ends())
				}
				return
			}
			if p.First.Release != p.Installs[0] || p.Ends() != p.Installs[len(p.Installs)-1] {
				t.Errorf("First offers %v, Ends %v, installs %v", p.First.Release.Version, p.Ends().Version, tt.installs)
			}
			// The last request is the device after its last update: that
			// release's version and image.
			end := p.Ends()
			if got := p.Last.Request; got.Version != end.Version.Original() || got.SketchMD5 != end.Artifact.MD5 || got.MAC != tt.req.MAC || !got.Now.Equal(tt.req.Now) {
				t.Errorf("last request %+v, want the device on %s with MD5 %s", got, end.Version, end.Artifact.MD5)
			}
		})
	}
}

// TestWalkLoop checks that a walk ends when a device would go round in
// circles. No fleet does that today (updates only go up, rollbacks only
// leave yanked releases), so the decisions are made up.
func TestWalkLoop(t *testing.T) {
	a := &Release{Platform: "lamp", Version: semver.MustParse("1.0.0")}
	b := &Release{Platform: "lamp", Version: semver.MustParse("1.1.0")}
	pingPong := func(req Request) Decision {
		cur := semver.MustParse(req.Version)
		d := Decision{Outcome: Update, Why: WhyPinned, Request: req, Current: cur, Release: a}
		if cur.Equal(a.Version) {
			d.Release = b
		}
		return d
	}
	p := walk(Request{Version: "1.0.0"}, pingPong)
	if !p.Loop || !slices.Equal(versionsOf(p.Installs), []string{"1.1.0"}) || p.Last.Release != a {
		t.Errorf("ping-pong from 1.0.0: loop %v, installs %v, last offer %v", p.Loop, versionsOf(p.Installs), p.Last.Release)
	}
	p = walk(Request{Version: "0.9.0"}, pingPong)
	if !p.Loop || !slices.Equal(versionsOf(p.Installs), []string{"1.0.0", "1.1.0"}) {
		t.Errorf("ping-pong from 0.9.0: loop %v, installs %v", p.Loop, versionsOf(p.Installs))
	}

	// Ever newer offers: the walk still ends.
	calls := 0
	upward := func(req Request) Decision {
		calls++
		v := semver.MustParse(fmt.Sprintf("1.0.%d", calls))
		return Decision{Outcome: Update, Request: req, Release: &Release{Version: v}}
	}
	p = walk(Request{Version: "1.0.0"}, upward)
	if !p.Loop || len(p.Installs) != maxWalk || calls != maxWalk+1 {
		t.Errorf("endless offers: loop %v after %d installs, %d decisions", p.Loop, len(p.Installs), calls)
	}
}

// TestCohortStage checks that the stage CohortStage names for a device is
// the one from which Decide offers the release to it.
func TestCohortStage(t *testing.T) {
	fx := newPolicyFixture(t, nil)
	r13 := fx.byVersion["1.3.0"] // 10% -> 50% after 24h -> 100% after 72h
	var devices []*Device
	for i := range 200 {
		devices = append(devices, &Device{MAC: MAC{0x18, 0xFE, 0x35, 0, byte(i >> 8), byte(i)}, Platform: "lamp"})
	}
	fleet, err := NewFleet(fx.fleet.Platforms(), devices)
	if err != nil {
		t.Fatal(err)
	}
	perStage := make([]int, len(r13.Stages))
	for _, d := range devices {
		first := r13.CohortStage(d)
		if first < 0 {
			t.Fatalf("%s: no stage of a release that reaches 100%%", d.MAC)
		}
		perStage[first]++
		for i, st := range r13.Stages {
			dec := Decide(fleet, Request{MAC: d.MAC, Version: "1.2.0", Now: t0.Add(st.After)}, nil)
			if offered := dec.Outcome == Update && dec.Release == r13; offered != (first <= i) {
				t.Errorf("%s: first in stage %d, but at stage %d Decide says %s: %s", d.MAC, first, i, dec.Outcome, dec.Reason())
			}
		}
	}
	// The hash spreads devices over the stages (10%, 40%, 50% of them).
	if perStage[0] == 0 || perStage[1] == 0 || perStage[2] == 0 {
		t.Errorf("devices per first stage: %v", perStage)
	}

	staged := func(set func(r *Release)) *Release {
		r := &Release{Platform: "lamp", Version: semver.MustParse("2.0.0"), Stages: []Stage{{Percent: 100}}}
		set(r)
		return r
	}
	plain := &Device{MAC: fx.plain, Platform: "lamp"}
	for _, tt := range []struct {
		name string
		r    *Release
		dev  *Device
		want int
	}{
		{"everyone", staged(func(*Release) {}), plain, 0},
		{"platform name in any case", staged(func(*Release) {}), &Device{MAC: fx.plain, Platform: "LAMP"}, 0},
		{"no stages", staged(func(r *Release) { r.Stages = nil }), plain, -1},
		{"pinned", staged(func(*Release) {}), &Device{MAC: fx.plain, Platform: "lamp", Pin: semver.MustParse("1.0.0")}, -1},
		{"other platform", staged(func(*Release) {}), &Device{MAC: fx.plain, Platform: "thermostat"}, -1},
		{"yanked", staged(func(r *Release) { r.Yanked = true }), plain, -1},
		{"beta release, stable device", staged(func(r *Release) { r.Channel = Beta }), plain, -1},
		{"beta release, alpha device", staged(func(r *Release) { r.Channel = Beta }), &Device{MAC: fx.plain, Platform: "lamp", Channel: Alpha}, 0},
		{"other group", staged(func(r *Release) { r.Groups = []string{"canary"} }), plain, -1},
		{"in group", staged(func(r *Release) { r.Groups = []string{"canary"} }), &Device{MAC: fx.plain, Platform: "lamp", Groups: []string{"x", "canary"}}, 0},
	} {
		if got := tt.r.CohortStage(tt.dev); got != tt.want {
			t.Errorf("%s: CohortStage %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestReasonRunning(t *testing.T) {
	fx := newPolicyFixture(t, nil)
	d := Decide(fx.fleet, Request{MAC: fx.plain, Version: "1.0.0", Now: t0.Add(100 * time.Hour)}, nil)
	if got, want := d.Reason(), "1.2.0 is the newest release for this device (running 1.0.0)"; got != want {
		t.Errorf("Reason: %q, want %q", got, want)
	}
	if got, want := d.ReasonRunning("1.0.0 or 0.0.0"), "1.2.0 is the newest release for this device (running 1.0.0 or 0.0.0)"; got != want {
		t.Errorf("ReasonRunning: %q, want %q", got, want)
	}
}

func TestOutcomeText(t *testing.T) {
	for o := Update; o <= BadVersion; o++ {
		b, _ := o.MarshalText()
		var back Outcome
		if err := back.UnmarshalText(b); err != nil || back != o {
			t.Errorf("%s: read back as %s, %v", o, back, err)
		}
	}
	var o Outcome
	if err := o.UnmarshalText([]byte("outcome(0)")); err == nil {
		t.Errorf("an unknown outcome reads as %s", o)
	}
}
