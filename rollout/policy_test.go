package rollout

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

type haltSet map[string]bool

func (h haltSet) Halted(r *Release) bool { return h[r.ID().String()] }

// policyFleet is a lamp platform with every kind of release:
//
//	1.0.0 stable
//	1.1.0 stable, yanked
//	1.2.0 stable
//	1.3.0 stable, from >=1.2.0, staged 10% -> 50% after 24h -> 100% after 72h
//	1.4.0-beta.1 (beta by default)
//	1.5.0 stable, groups = ["canary"]
//	1.6.0 alpha
type policyFixture struct {
	fleet                              *Fleet
	plain, canary, beta, alpha, pinned MAC
	byVersion                          map[string]*Release
}

func newPolicyFixture(t testing.TB, mutate func(p *Platform)) policyFixture {
	t.Helper()
	mk := func(v string, set func(r *Release)) *Release {
		r := &Release{Platform: "lamp", Version: semver.MustParse(v), IntroducedAt: t0,
			Artifact: Artifact{Size: 500_000, MD5: strings.Repeat("a", 31) + v[2:3], FlashSize: 4 << 20}}
		if set != nil {
			set(r)
		}
		return r
	}
	from, err := semver.NewConstraint(">=1.2.0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Platform{Name: "lamp", Chip: "esp8266", Releases: []*Release{
		mk("1.0.0", nil),
		mk("1.1.0", func(r *Release) { r.Yanked = true }),
		mk("1.2.0", nil),
		mk("1.3.0", func(r *Release) {
			r.From = from
			r.Stages = []Stage{{Percent: 10}, {Percent: 50, After: 24 * time.Hour}, {Percent: 100, After: 72 * time.Hour}}
		}),
		mk("1.4.0-beta.1", nil),
		mk("1.5.0", func(r *Release) { r.Groups = []string{"canary"} }),
		mk("1.6.0", func(r *Release) { r.Channel = Alpha }),
	}}
	if mutate != nil {
		mutate(p)
	}
	fx := policyFixture{
		plain: MAC{0x18, 0xFE, 0x34, 0, 0, 1}, canary: MAC{0x18, 0xFE, 0x34, 0, 0, 2},
		beta: MAC{0x18, 0xFE, 0x34, 0, 0, 3}, alpha: MAC{0x18, 0xFE, 0x34, 0, 0, 4},
		pinned: MAC{0x18, 0xFE, 0x34, 0, 0, 5}, byVersion: map[string]*Release{},
	}
	devices := []*Device{
		{MAC: fx.plain, Platform: "lamp"},
		{MAC: fx.canary, Platform: "lamp", Groups: []string{"canary", "site-a"}},
		{MAC: fx.beta, Platform: "lamp", Channel: Beta},
		{MAC: fx.alpha, Platform: "lamp", Channel: Alpha},
		{MAC: fx.pinned, Platform: "lamp", Pin: semver.MustParse("1.0.0")},
	}
	if fx.fleet, err = NewFleet([]*Platform{p}, devices); err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Releases {
		fx.byVersion[r.Version.String()] = r
	}
	return fx
}

// macInCohort finds a MAC inside (want true) or outside the cohort of r at
// percent, so stage tests do not depend on particular hash values.
func macInCohort(t testing.TB, r *Release, percent float64, want bool) MAC {
	t.Helper()
	for i := range 100000 {
		m := MAC{0x18, 0xFE, 0x34, 0x10, byte(i >> 8), byte(i)}
		if r.InCohort(m, percent) == want {
			return m
		}
	}
	t.Fatal("no MAC found")
	return MAC{}
}

func TestDecidePolicies(t *testing.T) {
	fx := newPolicyFixture(t, nil)
	r13 := fx.byVersion["1.3.0"]
	in10 := macInCohort(t, r13, 10, true)
	out50 := macInCohort(t, r13, 50, false)
	// Devices outside the 10% cohort but inside the 50% one.
	var in50 MAC
	for i := range 100000 {
		m := MAC{0x18, 0xFE, 0x34, 0x20, byte(i >> 8), byte(i)}
		if !r13.InCohort(m, 10) && r13.InCohort(m, 50) {
			in50 = m
			break
		}
	}
	extra := []*Device{{MAC: in10, Platform: "lamp"}, {MAC: out50, Platform: "lamp"}, {MAC: in50, Platform: "lamp"}}
	fleet, err := NewFleet(fx.fleet.Platforms(), append(fx.fleet.Devices(), extra...))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		req     Request
		halts   haltSet
		outcome Outcome
		why     Why
		release string // offered (Update) or Release (UpToDate), "" for nil
		held    string
		reason  string
	}{
		{"staged: before 24h only the 10% cohort gets 1.3.0", Request{MAC: in10, Version: "1.2.0", Now: t0.Add(time.Hour)}, nil, Update, WhyNewer, "1.3.0", "", "1.3.0 is the newest release for this device (running 1.2.0); stage 1 of 3, 10%"},
		{"staged: outside the cohort stays on 1.2.0", Request{MAC: in50, Version: "1.2.0", Now: t0.Add(time.Hour)}, nil, UpToDate, WhyNotInCohort, "1.2.0", "1.3.0", "1.3.0: stage 1 of 3: not yet in the 10% cohort"},
		{"staged: stage 2 adds the 50% cohort", Request{MAC: in50, Version: "1.2.0", Now: t0.Add(25 * time.Hour)}, nil, Update, WhyNewer, "1.3.0", "", "stage 2 of 3, 50%"},
		{"staged: stage 2 still leaves others out", Request{MAC: out50, Version: "1.2.0", Now: t0.Add(25 * time.Hour)}, nil, UpToDate, WhyNotInCohort, "1.2.0", "1.3.0", "1.3.0: stage 2 of 3: not yet in the 50% cohort"},
		{"staged: stage 3 is everyone", Request{MAC: out50, Version: "1.2.0", Now: t0.Add(73 * time.Hour)}, nil, Update, WhyNewer, "1.3.0", "", "stage 3 of 3, 100%"},
		{"upgrade path: 1.0.0 steps to 1.2.0 first", Request{MAC: fx.plain, Version: "1.0.0", Now: t0.Add(100 * time.Hour)}, nil, Update, WhyNewer, "1.2.0", "", ""},
		{"upgrade path: then on to 1.3.0", Request{MAC: fx.plain, Version: "1.2.0", Now: t0.Add(100 * time.Hour)}, nil, Update, WhyNewer, "1.3.0", "", ""},
		{"groups: canary gets 1.5.0", Request{MAC: fx.canary, Version: "1.3.0", Now: t0}, nil, Update, WhyNewer, "1.5.0", "", ""},
		{"groups: others never see 1.5.0", Request{MAC: fx.plain, Version: "1.3.0", Now: t0}, nil, UpToDate, WhyLatest, "1.3.0", "", "running 1.3.0; the newest release for this device is 1.3.0"},
		{"channels: beta gets the pre-release", Request{MAC: fx.beta, Version: "1.3.0", Now: t0}, nil, Update, WhyNewer, "1.4.0-beta.1", "", ""},
		{"channels: alpha gets alpha", Request{MAC: fx.alpha, Version: "1.3.0", Now: t0}, nil, Update, WhyNewer, "1.6.0", "", ""},
		{"channels: stable never gets beta", Request{MAC: fx.plain, Version: "1.3.0", Now: t0}, nil, UpToDate, WhyLatest, "1.3.0", "", ""},
		{"pin: downgrade to exactly 1.0.0", Request{MAC: fx.pinned, Version: "1.3.0", Now: t0}, nil, Update, WhyPinned, "1.0.0", "", "pinned to 1.0.0 (running 1.3.0)"},
		{"pin: already there", Request{MAC: fx.pinned, Version: "v1.0.0", Now: t0}, nil, UpToDate, WhyPinned, "1.0.0", "", "pinned to 1.0.0, which it runs"},
		{"pin: halted pinned release is not offered", Request{MAC: fx.pinned, Version: "1.3.0", Now: t0}, haltSet{"lamp@1.0.0": true}, UpToDate, WhyHalted, "", "1.0.0", "1.0.0 is halted"},
		{"yank: device on 1.1.0 moves on when it can", Request{MAC: fx.plain, Version: "1.1.0", Now: t0}, nil, Update, WhyNewer, "1.2.0", "", ""},
		{"halt: 1.3.0 halted, device stays", Request{MAC: out50, Version: "1.2.0", Now: t0.Add(100 * time.Hour)}, haltSet{"lamp@1.3.0": true}, UpToDate, WhyHalted, "1.2.0", "1.3.0", "1.3.0 is halted"},
		{"space: image larger than free space", Request{MAC: out50, Version: "1.2.0", FreeSpace: 400_000, Now: t0.Add(100 * time.Hour)}, nil, UpToDate, WhyNoSpace, "1.3.0", "", "1.3.0: image 500.0 kB > free 400.0 kB"},
		{"space: enough free space", Request{MAC: out50, Version: "1.2.0", FreeSpace: 1_000_000, ChipSize: 4 << 20, Now: t0.Add(100 * time.Hour)}, nil, Update, WhyNewer, "1.3.0", "", ""},
		{"flash: image for a bigger chip", Request{MAC: out50, Version: "1.2.0", ChipSize: 1 << 20, Now: t0.Add(100 * time.Hour)}, nil, UpToDate, WhyFlashTooSmall, "1.3.0", "", "1.3.0: image needs 4.2 MB of flash, chip has 1.0 MB"},
		{"md5: device already runs the offered image", Request{MAC: out50, Version: "1.2.0", SketchMD5: strings.ToUpper(r13.Artifact.MD5), Now: t0.Add(100 * time.Hour)}, nil, UpToDate, WhyAlreadyRunning, "1.3.0", "", "already runs 1.3.0 (sketch MD5 matches)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var halts Halts
			if tt.halts != nil {
				halts = tt.halts
			}
			d := Decide(fleet, tt.req, halts)
			if d.Outcome != tt.outcome || d.Why != tt.why {
				t.Fatalf("got %v/%v (%s), want %v/%v", d.Outcome, d.Why, d.Reason(), tt.outcome, tt.why)
			}
			if got := verOf(d.Release); got != tt.release {
				t.Errorf("release: got %q, want %q", got, tt.release)
			}
			if got := verOf(d.Held); got != tt.held {
				t.Errorf("held: got %q, want %q", got, tt.held)
			}
			if !strings.Contains(d.Reason(), tt.reason) {
				t.Errorf("reason: got %q, want it to contain %q", d.Reason(), tt.reason)
			}
		})
	}
}

func verOf(r *Release) string {
	if r == nil {
		return ""
	}
	return r.Version.String()
}

func TestDecidePauseAndRollback(t *testing.T) {
	// Device on yanked 1.1.0 and nothing newer it may have: roll back.
	fx := newPolicyFixture(t, func(p *Platform) {
		for _, r := range p.Releases {
			if r.Version.Compare(semver.MustParse("1.1.0")) > 0 {
				r.Paused = true
			}
		}
	})
	d := Decide(fx.fleet, Request{MAC: fx.plain, Version: "1.1.0", Now: t0}, nil)
	if d.Outcome != Update || d.Why != WhyRollback || verOf(d.Release) != "1.0.0" {
		t.Errorf("rollback: got %v/%v %s", d.Outcome, d.Why, d.Reason())
	}
	if want := "running 1.1.0, which is yanked: rolling back to 1.0.0"; d.Reason() != want {
		t.Errorf("reason: got %q, want %q", d.Reason(), want)
	}
	// A paused release holds the device back, and says so.
	d = Decide(fx.fleet, Request{MAC: fx.plain, Version: "1.0.0", Now: t0}, nil)
	if d.Outcome != UpToDate || d.Why != WhyPaused || verOf(d.Held) != "1.6.0" && verOf(d.Held) != "1.3.0" {
		t.Errorf("paused: got %v/%v held %s (%s)", d.Outcome, d.Why, verOf(d.Held), d.Reason())
	}

	// An upgrade path with no step available: held, and the reason says why.
	fx = newPolicyFixture(t, func(p *Platform) {
		for _, r := range p.Releases {
			if v := r.Version.String(); v == "1.2.0" || v == "1.5.0" || v == "1.6.0" {
				r.Paused = true
			}
		}
	})
	d = Decide(fx.fleet, Request{MAC: fx.plain, Version: "1.0.0", Now: t0.Add(100 * time.Hour)}, nil)
	if d.Outcome != UpToDate || d.Why != WhyFrom || d.Reason() != "1.3.0 requires a device on >=1.2.0 (running 1.0.0)" {
		t.Errorf("upgrade path: got %v/%v %q", d.Outcome, d.Why, d.Reason())
	}

	// rollback = false keeps devices on the yanked release.
	fx = newPolicyFixture(t, func(p *Platform) {
		p.NoRollback = true
		for _, r := range p.Releases {
			if r.Version.Compare(semver.MustParse("1.1.0")) > 0 {
				r.Paused = true
			}
		}
	})
	if d := Decide(fx.fleet, Request{MAC: fx.plain, Version: "1.1.0", Now: t0}, nil); d.Outcome != UpToDate {
		t.Errorf("no rollback: got %v (%s)", d.Outcome, d.Reason())
	}

	// A paused platform offers nothing, not even to pinned devices.
	fx = newPolicyFixture(t, func(p *Platform) { p.Paused = true })
	for _, m := range []MAC{fx.plain, fx.pinned, fx.canary} {
		if d := Decide(fx.fleet, Request{MAC: m, Version: "1.1.0", Now: t0}, nil); d.Outcome != UpToDate || d.Why != WhyPlatformPaused {
			t.Errorf("paused platform, %s: got %v/%v", m, d.Outcome, d.Why)
		}
	}
}

func TestStageAt(t *testing.T) {
	r := &Release{IntroducedAt: t0, Stages: []Stage{{Percent: 5, After: time.Hour}, {Percent: 25, After: 24 * time.Hour}, {Percent: 100, After: 72 * time.Hour}}}
	tests := []struct {
		at    time.Duration
		index int
		pct   float64
	}{
		{0, -1, 0}, {time.Hour, 0, 5}, {23 * time.Hour, 0, 5}, {24 * time.Hour, 1, 25}, {100 * time.Hour, 2, 100},
	}
	for _, tt := range tests {
		i, p := r.StageAt(t0.Add(tt.at))
		if i != tt.index || p != tt.pct {
			t.Errorf("StageAt(+%v): got %d %v, want %d %v", tt.at, i, p, tt.index, tt.pct)
		}
	}
	if got, want := r.NextStage(t0.Add(2*time.Hour)), t0.Add(24*time.Hour); !got.Equal(want) {
		t.Errorf("NextStage: got %v, want %v", got, want)
	}
	if i, p := (&Release{}).StageAt(t0); i != -1 || p != 100 {
		t.Errorf("unstaged: got %d %v, want -1 100", i, p)
	}
}

// TestCohortProperty: over 10,000 random MACs a 25% stage selects 25% +- 2%,
// and raising it to 50% keeps every device that was in. Consecutive
// factory MACs are spread as well as random ones.
func TestCohortProperty(t *testing.T) {
	r := &Release{Platform: "lamp", Version: semver.MustParse("1.3.0")}
	rng := rand.New(rand.NewPCG(1, 2))
	sources := map[string]func(i int) MAC{
		"random": func(int) MAC {
			var m MAC
			for j := range m {
				m[j] = byte(rng.UintN(256))
			}
			return m
		},
		"consecutive": func(i int) MAC { return MAC{0x24, 0x0A, 0xC4, 0x00, byte(i >> 8), byte(i)} },
	}
	for name, next := range sources {
		t.Run(name, func(t *testing.T) {
			const n = 10000
			in25 := 0
			for i := range n {
				m := next(i)
				a, b := r.InCohort(m, 25), r.InCohort(m, 50)
				if a {
					in25++
					if !b {
						t.Fatalf("%s is in the 25%% cohort but not in the 50%% one", m)
					}
				}
			}
			if got := float64(in25) / n * 100; got < 23 || got > 27 {
				t.Errorf("25%% stage selected %.2f%% of %d MACs, want 25 +- 2", got, n)
			}
		})
	}
	// Different releases pick different cohorts.
	other := &Release{Platform: "lamp", Version: semver.MustParse("1.4.0")}
	same := 0
	for i := range 1000 {
		m := MAC{0x24, 0x0A, 0xC4, 0x01, byte(i >> 8), byte(i)}
		if r.InCohort(m, 25) == other.InCohort(m, 25) {
			same++
		}
	}
	if same > 700 { // independent 25% cohorts agree on about 62.5% of devices
		t.Errorf("cohorts of two releases agree on %d of 1000 devices: not independent", same)
	}
}

func TestParseChannel(t *testing.T) {
	for _, c := range []Channel{Stable, Beta, Alpha} {
		got, err := ParseChannel(c.String())
		if err != nil || got != c {
			t.Errorf("ParseChannel(%q): got %v, %v", c.String(), got, err)
		}
	}
	if _, err := ParseChannel("nightly"); err == nil {
		t.Error("ParseChannel(nightly): no error")
	}
}

func BenchmarkDecide(b *testing.B) {
	fx := newPolicyFixture(b, nil)
	b.Run("up_to_date", func(b *testing.B) {
		req := Request{MAC: fx.plain, Version: "1.3.0", Now: t0.Add(100 * time.Hour)}
		b.ReportAllocs()
		for b.Loop() {
			Decide(fx.fleet, req, nil)
		}
	})
	b.Run("staged_not_in_cohort", func(b *testing.B) {
		m := macInCohort(b, fx.byVersion["1.3.0"], 10, false)
		fleet, _ := NewFleet(fx.fleet.Platforms(), append(fx.fleet.Devices(), &Device{MAC: m, Platform: "lamp"}))
		req := Request{MAC: m, Version: "1.2.0", Now: t0.Add(time.Hour)}
		b.ReportAllocs()
		for b.Loop() {
			Decide(fleet, req, nil)
		}
	})
	b.Run("update", func(b *testing.B) {
		req := Request{MAC: fx.canary, Version: "1.3.0", Now: t0}
		b.ReportAllocs()
		for b.Loop() {
			Decide(fx.fleet, req, nil)
		}
	})
}
