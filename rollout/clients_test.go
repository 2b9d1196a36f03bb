package rollout

import (
	"strings"
	"testing"
	"time"
)

// clientFleet: lamp (esp32c3) with 1.0.0, 1.2.0 (stable), 1.3.0 (staged at
// 50%, then 100% after 48h), 1.4.0-rc.1 (beta), and 1.1.0 for group lab
// only; kitchen lamp on lamp; anonymous devices allowed on lamp, not on
// thermostat.
func clientFleet(tb testing.TB, t0 time.Time) *Fleet {
	tb.Helper()
	rs := releases(tb, "lamp", "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0-rc.1")
	rs[1].Groups = []string{"lab"}
	rs[3].Stages = []Stage{{Percent: 50}, {Percent: 100, After: 48 * time.Hour}}
	rs[3].IntroducedAt = t0
	lamp := &Platform{Name: "lamp", Chip: "esp32c3", Releases: rs, Anonymous: true}
	therm := &Platform{Name: "thermostat", Chip: "esp8266", Releases: releases(tb, "thermostat", "2.0.0")}
	f, err := NewFleet([]*Platform{lamp, therm}, []*Device{
		{MAC: macLamp1, Platform: "lamp", Name: "Kitchen Lamp"},
		{MAC: macTherm, Platform: "thermostat", Name: "18:fe:34:ab:cd:ef"}, // its own MAC as a name
	})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func TestDecideAnonymous(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		req     Request
		halts   haltSet
		want    Outcome
		why     Why
		release string
		reason  string
	}{
		{"newest fully rolled out release; not the staged one", Request{Anonymous: true, Platform: "lamp", Version: "1.0.0", Now: t0},
			nil, Update, WhyNewer, "1.2.0", "1.2.0 is the newest release for this device (running 1.0.0)"},
		{"the staged release once its stage is 100%", Request{Anonymous: true, Platform: "lamp", Version: "1.2.0", Now: t0.Add(48 * time.Hour)},
			nil, Update, WhyNewer, "1.3.0", ""},
		{"not in a 50% cohort", Request{Anonymous: true, Platform: "lamp", Version: "1.2.0", Now: t0},
			nil, UpToDate, WhyNotInCohort, "1.2.0", "1.3.0: stage 1 of 2: not yet in the 50% cohort"},
		{"MAC ignored: no cohort for anonymous devices", Request{Anonymous: true, MAC: macLamp1, Platform: "lamp", Version: "1.2.0", Now: t0},
			nil, UpToDate, WhyNotInCohort, "1.2.0", ""},
		{"stable channel, no groups", Request{Anonymous: true, Platform: "LAMP", Version: "1.0.0", Now: t0.Add(48 * time.Hour)},
			nil, Update, WhyNewer, "1.3.0", ""},
		{"halts apply", Request{Anonymous: true, Platform: "lamp", Version: "1.0.0", Now: t0.Add(48 * time.Hour)},
			haltSet{"lamp@1.3.0": true, "lamp@1.2.0": true}, UpToDate, WhyHalted, "1.0.0", "1.3.0 is halted"},
		{"platform without anonymous devices", Request{Anonymous: true, Platform: "thermostat", Version: "1.0.0", Now: t0},
			nil, NotWhitelisted, WhyAnonymous, "", "platform thermostat serves whitelisted devices only (anonymous = true would serve any)"},
		{"no platform", Request{Anonymous: true, Version: "1.0.0", Now: t0},
			nil, NotWhitelisted, WhyAnonymous, "", "a device that is in no whitelist must name a platform"},
		{"unknown platform", Request{Anonymous: true, Platform: "nope", Version: "1.0.0", Now: t0},
			nil, UnknownPlatform, WhyUnknownPlatform, "", ""},
		{"bad version", Request{Anonymous: true, Platform: "lamp", Version: "x", Now: t0},
			nil, BadVersion, WhyBadVersion, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var halts Halts
			if tt.halts != nil {
				halts = tt.halts
			}
			d := Decide(clientFleet(t, t0), tt.req, halts)
			if d.Outcome != tt.want || d.Why != tt.why {
				t.Fatalf("got %v/%v (%s), want %v/%v", d.Outcome, d.Why, d.Reason(), tt.want, tt.why)
			}
			if d.Device != nil {
				t.Errorf("Device = %+v, want nil for an anonymous request", d.Device)
			}
			if got := relVersionOf(d.Release); got != tt.release {
				t.Errorf("Release = %q, want %q", got, tt.release)
			}
			if tt.reason != "" && d.Reason() != tt.reason {
				t.Errorf("Reason() = %q, want %q", d.Reason(), tt.reason)
			}
		})
	}
}

func TestDecideWant(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := clientFleet(t, t0)
	v := func(s string) Request {
		return Request{MAC: macLamp1, Version: "1.0.0", Now: t0.Add(48 * time.Hour), Want: mustVersion(t, s)}
	}
	tests := []struct {
		name    string
		req     Request
		want    Outcome
		why     Why
		release string
		reason  string
	}{
		{"the pick is the offer", v("1.3.0"), Update, WhyNewer, "1.3.0", ""},
		{"an older pick is not offered", v("1.2.0"), UpToDate, WhyNotPicked, "1.3.0",
			"picked 1.2.0, but 1.3.0 is the release for this device (running 1.0.0)"},
		{"a pre-release of another channel", v("1.4.0-rc.1"), UpToDate, WhyNotPicked, "1.3.0", ""},
		{"nothing newer: nothing picked", Request{MAC: macLamp1, Version: "1.3.0", Now: t0.Add(48 * time.Hour), Want: mustVersion(t, "1.2.0")},
			UpToDate, WhyLatest, "1.3.0", ""},
		{"the pick is what the device runs", Request{MAC: macLamp1, Version: "1.3.0", Now: t0.Add(48 * time.Hour), Want: mustVersion(t, "1.3.0")},
			UpToDate, WhyLatest, "1.3.0", ""},
		{"device checks still apply", Request{MAC: macLamp1, Version: "1.0.0", Now: t0.Add(48 * time.Hour), Want: mustVersion(t, "1.3.0"), FreeSpace: 10},
			UpToDate, WhyNoSpace, "1.3.0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(f, tt.req, nil)
			if d.Outcome != tt.want || d.Why != tt.why {
				t.Fatalf("got %v/%v (%s), want %v/%v", d.Outcome, d.Why, d.Reason(), tt.want, tt.why)
			}
			if got := relVersionOf(d.Release); got != tt.release {
				t.Errorf("Release = %q, want %q", got, tt.release)
			}
			if tt.reason != "" && d.Reason() != tt.reason {
				t.Errorf("Reason() = %q, want %q", d.Reason(), tt.reason)
			}
		})
	}
}

func TestCatalog(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := clientFleet(t, t0)
	lamp := f.Platform("lamp")
	names := func(rs []*Release) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.Version.String())
		}
		return strings.Join(s, " ")
	}
	if got, want := names(lamp.Catalog(t0, nil)), "1.4.0-rc.1 1.3.0 1.2.0 1.1.0 1.0.0"; got != want {
		t.Errorf("Catalog = %s, want %s", got, want)
	}
	lamp.Releases[0].Yanked = true // 1.4.0-rc.1
	lamp.Releases[2].Paused = true // 1.2.0
	lamp.Releases[1].Stages[0].After = time.Hour
	if got, want := names(lamp.Catalog(t0, haltSet{"lamp@1.1.0": true})), "1.0.0"; got != want {
		t.Errorf("Catalog with yanked, paused, halted and unstarted releases = %s, want %s", got, want)
	}
	if got, want := names(lamp.Catalog(t0.Add(time.Hour), nil)), "1.3.0 1.1.0 1.0.0"; got != want {
		t.Errorf("Catalog once the stage started = %s, want %s", got, want)
	}
	lamp.Paused = true
	if got := lamp.Catalog(t0, nil); got != nil {
		t.Errorf("paused platform: Catalog = %s, want nothing", names(got))
	}
	var none *Platform
	if got := none.Catalog(t0, nil); got != nil {
		t.Errorf("nil platform: Catalog = %s", names(got))
	}
}

func TestLookupDevice(t *testing.T) {
	f := clientFleet(t, time.Now())
	tests := []struct {
		id   string
		want MAC // zero: none
	}{
		{"24:0A:C4:00:00:01", macLamp1},
		{"240ac4000001", macLamp1},
		{"24-0a-c4-00-00-01", macLamp1},
		{"Kitchen Lamp", macLamp1},
		{"kitchen lamp", macLamp1},
		{"KITCHEN LAMP", macLamp1},
		{"18:fe:34:ab:cd:ef", macTherm},
		{"kitchen", MAC{}},
		{"", MAC{}},
		{"DE:AD:BE:EF:00:00", MAC{}},
	}
	for _, tt := range tests {
		d := f.LookupDevice(tt.id)
		switch {
		case tt.want == MAC{} && d != nil:
			t.Errorf("LookupDevice(%q) = %s, want none", tt.id, d.MAC)
		case tt.want != MAC{} && (d == nil || d.MAC != tt.want):
			t.Errorf("LookupDevice(%q) = %v, want %s", tt.id, d, tt.want)
		}
	}
	var nilFleet *Fleet
	if d := nilFleet.LookupDevice("kitchen lamp"); d != nil {
		t.Errorf("nil fleet: %v", d)
	}
}

func TestDeviceNameRules(t *testing.T) {
	p := func() []*Platform { return []*Platform{{Name: "lamp"}} }
	tests := []struct {
		name    string
		devices []*Device
		want    string // "" wants success
	}{
		{"unique names", []*Device{{MAC: macLamp1, Platform: "lamp", Name: "a"}, {MAC: macLamp2, Platform: "lamp", Name: "b"}}, ""},
		{"unnamed devices", []*Device{{MAC: macLamp1, Platform: "lamp"}, {MAC: macLamp2, Platform: "lamp"}}, ""},
		{"a name twice, in another case", []*Device{{MAC: macLamp1, Platform: "lamp", Name: "Hall"}, {MAC: macLamp2, Platform: "lamp", Name: "hall"}},
			`device 24:0A:C4:00:00:02: name "hall" is also the name of device 24:0A:C4:00:00:01`},
		{"another device's MAC as a name", []*Device{{MAC: macLamp1, Platform: "lamp", Name: "240AC4000002"}},
			`device 24:0A:C4:00:00:01: name "240AC4000002" reads as the MAC 24:0A:C4:00:00:02, not this device's 24:0A:C4:00:00:01`},
		{"its own MAC as a name", []*Device{{MAC: macLamp1, Platform: "lamp", Name: "24-0a-c4-00-00-01"}}, ""},
	}
	for _, tt := range tests {
		_, err := NewFleet(p(), tt.devices)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
			t.Errorf("%s: got %v, want %s", tt.name, err, tt.want)
		}
	}
}

func TestPlainVersion(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" wants false
	}{
		{"1.2.3", "1.2.3"},
		{"v1.2.3", "1.2.3"},
		{"1.2.3+build.7", "1.2.3"},
		{"0.0.1", "0.0.1"},
		{"1.2.3-rc.1", ""},
		{"1.2.3-rc.1+b", ""},
		{"2147483647.0.0", "2147483647.0.0"},
		{"2147483648.0.0", ""},
		{"1.2147483648.0", ""},
	}
	for _, tt := range tests {
		got, ok := PlainVersion(mustVersion(t, tt.in))
		if (tt.want != "") != ok || got != tt.want {
			t.Errorf("PlainVersion(%s) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
	if _, ok := PlainVersion(nil); ok {
		t.Error("PlainVersion(nil) is plain")
	}
}

func relVersionOf(r *Release) string {
	if r == nil {
		return ""
	}
	return r.Version.String()
}

func TestRunningRelease(t *testing.T) {
	f := clientFleet(t, time.Now())
	lamp := f.Platform("lamp")
	for i, r := range lamp.Releases {
		r.Artifact.MD5 = strings.Repeat(string(rune('a'+i)), 32)
	}
	if r := lamp.RunningRelease(strings.Repeat("B", 32)); r == nil || r != lamp.Releases[1] {
		t.Errorf("RunningRelease by an upper-case MD5 = %v, want %s", r, lamp.Releases[1].Version)
	}
	for _, md5 := range []string{"", strings.Repeat("z", 32)} {
		if r := lamp.RunningRelease(md5); r != nil {
			t.Errorf("RunningRelease(%q) = %s, want none", md5, r.Version)
		}
	}
	var none *Platform
	if none.RunningRelease(strings.Repeat("a", 32)) != nil {
		t.Error("nil platform runs a release")
	}
}
