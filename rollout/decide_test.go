package rollout

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

// MACs of the test fleet.
var (
	macLamp1 = MAC{0x24, 0x0A, 0xC4, 0x00, 0x00, 0x01}
	macLamp2 = MAC{0x24, 0x0A, 0xC4, 0x00, 0x00, 0x02}
	macTherm = MAC{0x18, 0xFE, 0x34, 0xAB, 0xCD, 0xEF}
	macNone  = MAC{0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x00}
)

func mustVersion(tb testing.TB, s string) *semver.Version {
	tb.Helper()
	v, err := ParseReleaseVersion(s)
	if err != nil {
		tb.Fatalf("ParseReleaseVersion(%q): %v", s, err)
	}
	return v
}

func releases(tb testing.TB, platform string, versions ...string) []*Release {
	tb.Helper()
	var rs []*Release
	for _, s := range versions {
		v := mustVersion(tb, s)
		rs = append(rs, &Release{
			Platform: platform,
			Version:  v,
			Artifact: Artifact{Source: Source{Path: "firmware/" + platform + "-" + v.String() + ".bin"}, Size: 1024},
		})
	}
	return rs
}

// testFleet builds a fresh fleet of two platforms and three devices, given
// out of order so that NewFleet's sorting is exercised:
//
//	lamp (esp32c3):     1.0.0, 1.2.0, 1.9.0, 1.10.0-rc.1 (pre-release)
//	thermostat (8266):  2.0.0, 2.1.0
//
// NewFleet sorts releases in place, so every test builds its own.
func testFleet(tb testing.TB) *Fleet {
	tb.Helper()
	lamp := &Platform{
		Name:        "lamp",
		Chip:        "esp32c3",
		Description: "smart lamp",
		Releases:    releases(tb, "lamp", "1.2.0", "1.10.0-rc.1", "1.0.0", "v1.9.0"),
	}
	therm := &Platform{
		Name:     "thermostat",
		Chip:     "esp8266",
		Releases: releases(tb, "thermostat", "2.0.0", "2.1.0"),
	}
	devices := []*Device{
		{MAC: macLamp2, Platform: "lamp"},
		{MAC: macTherm, Platform: "thermostat", Name: "hall"},
		{MAC: macLamp1, Platform: "lamp", Name: "kitchen lamp"},
	}
	f, err := NewFleet([]*Platform{therm, lamp}, devices)
	if err != nil {
		tb.Fatalf("NewFleet: %v", err)
	}
	return f
}

// edgeFleet has a platform without releases and one with only
// pre-releases.
func edgeFleet(tb testing.TB) *Fleet {
	tb.Helper()
	bare := &Platform{Name: "bare"}
	beta := &Platform{Name: "beta", Releases: releases(tb, "beta", "0.1.0-alpha", "0.2.0-beta.1")}
	f, err := NewFleet([]*Platform{bare, beta}, []*Device{
		{MAC: macLamp1, Platform: "bare"},
		{MAC: macLamp2, Platform: "beta"},
	})
	if err != nil {
		tb.Fatalf("NewFleet: %v", err)
	}
	return f
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name        string
		edge        bool // decide against edgeFleet instead of testFleet
		req         Request
		want        Outcome
		wantPlat    string // "" wants a nil Platform
		wantDevice  bool   // the device's whitelist entry is wanted
		wantRelease string // "" wants a nil Release
		wantCurrent string // "" wants a nil Current
		reason      []string
	}{
		{
			name: "update offered",
			req:  Request{MAC: macLamp1, Platform: "lamp", Version: "v1.2.0"},
			want: Update, wantPlat: "lamp", wantDevice: true, wantRelease: "1.9.0", wantCurrent: "1.2.0",
			reason: []string{"1.9.0 is the newest release for this device (running 1.2.0)"},
		},
		{
			name: "update from lenient version",
			req:  Request{MAC: macLamp2, Platform: "lamp", Version: "1.0"},
			want: Update, wantPlat: "lamp", wantDevice: true, wantRelease: "1.9.0", wantCurrent: "1.0.0",
			reason: []string{"1.9.0", "1.0.0"},
		},
		{
			name: "update from pre-release of newest",
			req:  Request{MAC: macLamp1, Platform: "lamp", Version: "1.9.0-rc.2"},
			want: Update, wantPlat: "lamp", wantDevice: true, wantRelease: "1.9.0", wantCurrent: "1.9.0-rc.2",
			reason: []string{"1.9.0 is the newest release for this device", "1.9.0-rc.2"},
		},
		{
			name: "up to date on a pre-release newer than newest stable",
			req:  Request{MAC: macLamp1, Platform: "lamp", Version: "1.10.0-alpha"},
			want: UpToDate, wantPlat: "lamp", wantDevice: true, wantRelease: "1.9.0", wantCurrent: "1.10.0-alpha",
			reason: []string{"running 1.10.0-alpha", "the newest release for this device is 1.9.0"},
		},
		{
			name: "update on second platform",
			req:  Request{MAC: macTherm, Platform: "thermostat", Version: "v2.0.0"},
			want: Update, wantPlat: "thermostat", wantDevice: true, wantRelease: "2.1.0", wantCurrent: "2.0.0",
			reason: []string{"2.1.0", "2.0.0"},
		},
		{
			name: "up to date equal",
			req:  Request{MAC: macLamp1, Platform: "lamp", Version: "1.9.0"},
			want: UpToDate, wantPlat: "lamp", wantDevice: true, wantRelease: "1.9.0", wantCurrent: "1.9.0",
			reason: []string{"running 1.9.0", "the newest release for this device is 1.9.0"},
		},
		{
			name: "up to date equal with v",
			req:  Request{MAC: macLamp1, Platform: "lamp", Version: "v1.9.0"},
			want: UpToDate, wantPlat: "lamp", wantDevice: true, wantRelease: "1.9.0", wantCurrent: "1.9.0",
		},
		{
			name: "up to date equal with build metadata",
			req:  Request{MAC: macLamp1, Platform: "lamp", Version: "1.9.0+local.3"},
			want: UpToDate, wantPlat: "lamp", wantDevice: true, wantRelease: "1.9.0", wantCurrent: "1.9.0+local.3",
		},
		{
			name: "up to date newer than newest",
			req:  Request{MAC: macLamp1, Platform: "lamp", Version: "2.0.0"},
			want: UpToDate, wantPlat: "lamp", wantDevice: true, wantRelease: "1.9.0", wantCurrent: "2.0.0",
			reason: []string{"running 2.0.0", "the newest release for this device is 1.9.0"},
		},
		{
			name: "up to date on the pre-release, which is not offered",
			req:  Request{MAC: macLamp1, Platform: "lamp", Version: "1.10.0-rc.1"},
			want: UpToDate, wantPlat: "lamp", wantDevice: true, wantRelease: "1.9.0", wantCurrent: "1.10.0-rc.1",
			reason: []string{"running 1.10.0-rc.1", "the newest release for this device is 1.9.0"},
		},
		{
			name:   "unknown platform",
			req:    Request{MAC: macLamp1, Platform: "fridge", Version: "1.0.0"},
			want:   UnknownPlatform,
			reason: []string{`unknown platform "fridge"`},
		},
		{
			name:   "unknown platform beats bad version and unknown MAC",
			req:    Request{MAC: macNone, Platform: "fridge", Version: "garbage"},
			want:   UnknownPlatform,
			reason: []string{`"fridge"`},
		},
		{
			name: "platform matched case-insensitively",
			req:  Request{MAC: macLamp1, Platform: "LAMP", Version: "1.0.0"},
			want: Update, wantPlat: "lamp", wantDevice: true, wantRelease: "1.9.0", wantCurrent: "1.0.0",
		},
		{
			name: "platform matched case-insensitively mixed",
			req:  Request{MAC: macTherm, Platform: "ThermoStat", Version: "2.1.0"},
			want: UpToDate, wantPlat: "thermostat", wantDevice: true, wantRelease: "2.1.0", wantCurrent: "2.1.0",
		},
		{
			name: "not whitelisted unknown MAC",
			req:  Request{MAC: macNone, Platform: "lamp", Version: "1.0.0"},
			want: NotWhitelisted, wantPlat: "lamp",
			reason: []string{"device DE:AD:BE:EF:00:00 is not whitelisted"},
		},
		{
			name:   "not whitelisted unknown MAC without platform",
			req:    Request{MAC: macNone, Version: "1.0.0"},
			want:   NotWhitelisted,
			reason: []string{"device DE:AD:BE:EF:00:00 is not whitelisted"},
		},
		{
			name: "not whitelisted beats bad version",
			req:  Request{MAC: macNone, Platform: "lamp", Version: "garbage"},
			want: NotWhitelisted, wantPlat: "lamp",
			reason: []string{"not whitelisted"},
		},
		{
			name: "whitelisted for another platform",
			req:  Request{MAC: macTherm, Platform: "lamp", Version: "1.0.0"},
			want: NotWhitelisted, wantPlat: "lamp", wantDevice: true,
			reason: []string{"device 18:FE:34:AB:CD:EF is whitelisted for platform thermostat, not lamp"},
		},
		{
			name: "whitelisted for another platform named in upper case",
			req:  Request{MAC: macLamp2, Platform: "THERMOSTAT", Version: "2.0.0"},
			want: NotWhitelisted, wantPlat: "thermostat", wantDevice: true,
			reason: []string{"24:0A:C4:00:00:02", "platform lamp, not THERMOSTAT"},
		},
		{
			name: "platform from whitelist",
			req:  Request{MAC: macLamp2, Version: "v1.2.0"},
			want: Update, wantPlat: "lamp", wantDevice: true, wantRelease: "1.9.0", wantCurrent: "1.2.0",
		},
		{
			name: "platform from whitelist second platform",
			req:  Request{MAC: macTherm, Version: "2.1.0"},
			want: UpToDate, wantPlat: "thermostat", wantDevice: true, wantRelease: "2.1.0", wantCurrent: "2.1.0",
		},
		{
			name: "bad version",
			req:  Request{MAC: macLamp1, Platform: "lamp", Version: "abc"},
			want: BadVersion, wantPlat: "lamp", wantDevice: true,
			reason: []string{"cannot read device version", `"abc"`},
		},
		{
			name: "empty version",
			req:  Request{MAC: macLamp1, Version: ""},
			want: BadVersion, wantPlat: "lamp", wantDevice: true,
			reason: []string{"cannot read device version", "empty version"},
		},
		{
			name: "platform with no releases",
			edge: true,
			req:  Request{MAC: macLamp1, Platform: "bare", Version: "0.0.1"},
			want: UpToDate, wantPlat: "bare", wantDevice: true, wantCurrent: "0.0.1",
			reason: []string{"platform bare has no release for this device"},
		},
		{
			name: "only pre-releases",
			edge: true,
			req:  Request{MAC: macLamp2, Version: "0.0.1"},
			want: UpToDate, wantPlat: "beta", wantDevice: true, wantCurrent: "0.0.1",
			reason: []string{"platform beta has no release for this device"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fleet := testFleet(t)
			if tt.edge {
				fleet = edgeFleet(t)
			}
			d := Decide(fleet, tt.req, nil)
			if d.Outcome != tt.want {
				t.Fatalf("Outcome: got %v, want %v (reason %q)", d.Outcome, tt.want, d.Reason())
			}
			if d.Request != tt.req {
				t.Errorf("Request: got %+v, want %+v", d.Request, tt.req)
			}

			switch {
			case tt.wantPlat == "" && d.Platform != nil:
				t.Errorf("Platform: got %q, want nil", d.Platform.Name)
			case tt.wantPlat != "" && d.Platform == nil:
				t.Errorf("Platform: got nil, want %q", tt.wantPlat)
			case tt.wantPlat != "" && d.Platform != fleet.Platform(tt.wantPlat):
				t.Errorf("Platform: got %q (%p), want the fleet's %q", d.Platform.Name, d.Platform, tt.wantPlat)
			}

			if want := fleet.Device(tt.req.MAC); tt.wantDevice {
				if want == nil {
					t.Fatalf("test bug: %v is not in the fleet", tt.req.MAC)
				}
				if d.Device != want {
					t.Errorf("Device: got %+v, want %+v", d.Device, want)
				}
			} else if d.Device != nil {
				t.Errorf("Device: got %+v, want nil", d.Device)
			}

			switch {
			case tt.wantRelease == "" && d.Release != nil:
				t.Errorf("Release: got %v, want nil", d.Release.Version)
			case tt.wantRelease != "" && d.Release == nil:
				t.Errorf("Release: got nil, want %s", tt.wantRelease)
			case tt.wantRelease != "":
				if got := d.Release.Version.String(); got != tt.wantRelease {
					t.Errorf("Release: got %s, want %s", got, tt.wantRelease)
				}
				if d.Release.Platform != tt.wantPlat {
					t.Errorf("Release.Platform: got %q, want %q", d.Release.Platform, tt.wantPlat)
				}
				if r := d.Platform.Release(d.Release.Version); r != d.Release {
					t.Errorf("Release: got %p, want the platform's own release %p", d.Release, r)
				}
			}

			switch {
			case tt.wantCurrent == "" && d.Current != nil:
				t.Errorf("Current: got %v, want nil", d.Current)
			case tt.wantCurrent != "" && d.Current == nil:
				t.Errorf("Current: got nil, want %s", tt.wantCurrent)
			case tt.wantCurrent != "" && d.Current.String() != tt.wantCurrent:
				t.Errorf("Current: got %s, want %s", d.Current, tt.wantCurrent)
			}

			if tt.want == BadVersion {
				if !errors.Is(d.Err, ErrBadVersion) {
					t.Errorf("Err: got %v, want one wrapping ErrBadVersion", d.Err)
				}
			} else if d.Err != nil {
				t.Errorf("Err: got %v, want nil", d.Err)
			}

			reason := d.Reason()
			for _, s := range tt.reason {
				if !strings.Contains(reason, s) {
					t.Errorf("Reason(): got %q, want it to contain %q", reason, s)
				}
			}
		})
	}
}

func TestDecideNilFleet(t *testing.T) {
	tests := []struct {
		req  Request
		want Outcome
	}{
		{Request{MAC: macLamp1, Version: "1.0.0"}, NotWhitelisted},
		{Request{MAC: macLamp1, Platform: "lamp", Version: "1.0.0"}, UnknownPlatform},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			d := Decide(nil, tt.req, nil)
			if d.Outcome != tt.want {
				t.Errorf("Decide(nil, %+v): got %v, want %v", tt.req, d.Outcome, tt.want)
			}
			if d.Platform != nil || d.Device != nil || d.Release != nil {
				t.Errorf("Decide(nil, %+v): got platform %v device %v release %v, want all nil", tt.req, d.Platform, d.Device, d.Release)
			}
		})
	}
}

func TestDecideNoAllocUpToDate(t *testing.T) {
	fleet := testFleet(t)
	tests := []struct {
		name string
		req  Request
	}{
		{"platform named", Request{MAC: macLamp1, Platform: "lamp", Version: "1.9.0"}},
		{"v prefix", Request{MAC: macLamp1, Platform: "lamp", Version: "v1.9.0"}},
		{"platform from whitelist", Request{MAC: macTherm, Version: "v2.1.0"}},
		// A device on a pre-release is left out: semver compares
		// pre-release identifiers by splitting them, which allocates.
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out Outcome
			allocs := testing.AllocsPerRun(100, func() {
				out = Decide(fleet, tt.req, nil).Outcome
			})
			if out != UpToDate {
				t.Fatalf("Decide(%+v): got %v, want %v", tt.req, out, UpToDate)
			}
			if allocs != 0 {
				t.Errorf("Decide(%+v): got %v allocations per run, want 0", tt.req, allocs)
			}
		})
	}
}

func TestNewFleetErrors(t *testing.T) {
	tests := []struct {
		name      string
		platforms func(testing.TB) []*Platform
		devices   []*Device
		want      string // "" wants success
	}{
		{
			name: "valid",
			platforms: func(tb testing.TB) []*Platform {
				return []*Platform{{Name: "a", Releases: releases(tb, "a", "1.0.0")}, {Name: "b", Releases: releases(tb, "b", "1.0.0")}}
			},
			devices: []*Device{{MAC: macLamp1, Platform: "a"}, {MAC: macLamp2, Platform: "b"}},
		},
		{
			name:      "empty",
			platforms: func(testing.TB) []*Platform { return nil },
		},
		{
			name: "duplicate platform",
			platforms: func(testing.TB) []*Platform {
				return []*Platform{{Name: "lamp"}, {Name: "lamp"}}
			},
			want: `platform "lamp" defined twice`,
		},
		{
			name: "duplicate platform differing in case",
			platforms: func(testing.TB) []*Platform {
				return []*Platform{{Name: "lamp"}, {Name: "Lamp"}}
			},
			want: `platform "Lamp" defined twice`,
		},
		{
			name: "duplicate version",
			platforms: func(tb testing.TB) []*Platform {
				return []*Platform{{Name: "lamp", Releases: releases(tb, "lamp", "1.0.0", "1.1.0", "1.0.0")}}
			},
			want: `platform "lamp": version 1.0.0 released twice`,
		},
		{
			name: "duplicate version with and without v",
			platforms: func(tb testing.TB) []*Platform {
				return []*Platform{{Name: "lamp", Releases: releases(tb, "lamp", "v2.0.0", "2.0.0")}}
			},
			want: "released twice",
		},
		{
			name: "duplicate version differing in build metadata",
			platforms: func(tb testing.TB) []*Platform {
				return []*Platform{{Name: "lamp", Releases: releases(tb, "lamp", "1.0.0", "0.9.0", "1.0.0+build")}}
			},
			want: `platform "lamp": version 1.0.0`,
		},
		{
			name: "same pre-release twice",
			platforms: func(tb testing.TB) []*Platform {
				return []*Platform{{Name: "lamp", Releases: releases(tb, "lamp", "1.0.0-rc.1", "1.0.0-rc.1")}}
			},
			want: "version 1.0.0-rc.1 released twice",
		},
		{
			name: "duplicate MAC",
			platforms: func(testing.TB) []*Platform {
				return []*Platform{{Name: "a"}, {Name: "b"}}
			},
			devices: []*Device{{MAC: macLamp1, Platform: "a"}, {MAC: macLamp1, Platform: "b"}},
			want:    "device 24:0A:C4:00:00:01 listed twice",
		},
		{
			name: "device on unknown platform",
			platforms: func(testing.TB) []*Platform {
				return []*Platform{{Name: "a"}}
			},
			devices: []*Device{{MAC: macLamp1, Platform: "a"}, {MAC: macLamp2, Platform: "fridge"}},
			want:    `device 24:0A:C4:00:00:02: unknown platform "fridge"`,
		},
		{
			name: "device without platform",
			platforms: func(testing.TB) []*Platform {
				return []*Platform{{Name: "a"}}
			},
			devices: []*Device{{MAC: macLamp1}},
			want:    `unknown platform ""`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFleet(tt.platforms(t), tt.devices)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("NewFleet: got error %v, want nil", err)
				}
				if f == nil {
					t.Fatal("NewFleet: got a nil fleet, want one")
				}
				return
			}
			if err == nil {
				t.Fatalf("NewFleet: got no error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewFleet: got error %q, want it to contain %q", err, tt.want)
			}
			if f != nil {
				t.Errorf("NewFleet on error: got a fleet, want nil")
			}
		})
	}
}

func TestNewFleetSortsReleases(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"test fleet lamp", nil, []string{"1.10.0-rc.1", "1.9.0", "1.2.0", "1.0.0"}},
		{"already sorted", []string{"3.0.0", "2.0.0", "1.0.0"}, []string{"3.0.0", "2.0.0", "1.0.0"}},
		{"ascending", []string{"0.1.0", "0.2.0", "0.10.0", "1.0.0"}, []string{"1.0.0", "0.10.0", "0.2.0", "0.1.0"}},
		{"pre-releases", []string{"1.0.0-beta.2", "1.0.0", "1.0.0-beta.10", "1.0.0-alpha", "0.9.9"},
			[]string{"1.0.0", "1.0.0-beta.10", "1.0.0-beta.2", "1.0.0-alpha", "0.9.9"}},
		{"single", []string{"v5.0.0"}, []string{"5.0.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p *Platform
			if tt.in == nil {
				p = testFleet(t).Platform("lamp")
			} else {
				p = &Platform{Name: "p", Releases: releases(t, "p", tt.in...)}
				if _, err := NewFleet([]*Platform{p}, nil); err != nil {
					t.Fatalf("NewFleet: %v", err)
				}
			}
			var got []string
			for _, r := range p.Releases {
				got = append(got, r.Version.String())
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("releases: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFleetAccessors(t *testing.T) {
	f := testFleet(t)

	var names []string
	for _, p := range f.Platforms() {
		names = append(names, p.Name)
	}
	if got, want := fmt.Sprint(names), "[lamp thermostat]"; got != want {
		t.Errorf("Platforms(): got %s, want %s", got, want)
	}

	var macs []string
	for _, d := range f.Devices() {
		macs = append(macs, d.MAC.String())
	}
	if got, want := fmt.Sprint(macs), "[18:FE:34:AB:CD:EF 24:0A:C4:00:00:01 24:0A:C4:00:00:02]"; got != want {
		t.Errorf("Devices(): got %s, want %s", got, want)
	}

	tests := []struct {
		name string
		got  any
		want any
	}{
		{"Platform(lamp).Chip", f.Platform("lamp").Chip, "esp32c3"},
		{"Platform(Thermostat).Name", f.Platform("Thermostat").Name, "thermostat"},
		{"Platform(fridge)", f.Platform("fridge"), (*Platform)(nil)},
		{"Platform(empty)", f.Platform(""), (*Platform)(nil)},
		{"Device(lamp1).Name", f.Device(macLamp1).Name, "kitchen lamp"},
		{"Device(therm).Platform", f.Device(macTherm).Platform, "thermostat"},
		{"Device(none)", f.Device(macNone), (*Device)(nil)},
		{"nil Platform", (*Fleet)(nil).Platform("lamp"), (*Platform)(nil)},
		{"nil Device", (*Fleet)(nil).Device(macLamp1), (*Device)(nil)},
		{"nil Platforms", len((*Fleet)(nil).Platforms()), 0},
		{"nil Devices", len((*Fleet)(nil).Devices()), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestPlatformRelease(t *testing.T) {
	lamp := testFleet(t).Platform("lamp")
	tests := []struct {
		version string
		want    string // "" wants nil
	}{
		{"1.9.0", "1.9.0"},
		{"v1.2.0", "1.2.0"},
		{"1.10.0-rc.1", "1.10.0-rc.1"},
		{"1.9.0+other", "1.9.0"}, // build metadata does not take part in equality
		{"1.9.1", ""},
		{"1.10.0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			r := lamp.Release(mustVersion(t, tt.version))
			switch {
			case tt.want == "" && r != nil:
				t.Errorf("Release(%s): got %v, want nil", tt.version, r.Version)
			case tt.want != "" && r == nil:
				t.Errorf("Release(%s): got nil, want %s", tt.version, tt.want)
			case tt.want != "" && r.Version.String() != tt.want:
				t.Errorf("Release(%s): got %v, want %s", tt.version, r.Version, tt.want)
			}
		})
	}
}

func TestFleetParseDeviceVersion(t *testing.T) {
	f := testFleet(t)
	lamp := f.Platform("lamp")
	own := func(s string) *semver.Version { return lamp.Release(mustVersion(t, s)).Version }
	tests := []struct {
		in      string
		want    string          // "" wants an error
		samePtr *semver.Version // the release's own version, when the fast path applies
	}{
		{"1.2.0", "1.2.0", own("1.2.0")},
		{"v1.2.0", "1.2.0", own("1.2.0")},
		{"1.9.0", "1.9.0", own("1.9.0")},
		{"v1.10.0-rc.1", "1.10.0-rc.1", own("1.10.0-rc.1")},
		{"1.2", "1.2.0", nil},
		{" 1.2.0 ", "1.2.0", nil},
		{"V1.2.0", "1.2.0", nil},
		{"3.0.0", "3.0.0", nil},
		{"", "", nil},
		{"v", "", nil},
		{"x1.2.0", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := f.ParseDeviceVersion(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrBadVersion) {
					t.Fatalf("ParseDeviceVersion(%q): got %v, %v, want an ErrBadVersion", tt.in, v, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDeviceVersion(%q): got error %v, want %s", tt.in, err, tt.want)
			}
			if v.String() != tt.want {
				t.Errorf("ParseDeviceVersion(%q): got %s, want %s", tt.in, v, tt.want)
			}
			if tt.samePtr != nil && v != tt.samePtr {
				t.Errorf("ParseDeviceVersion(%q): got %p, want the release's own version %p", tt.in, v, tt.samePtr)
			}
			for _, r := range lamp.Releases {
				if tt.samePtr == nil && v == r.Version {
					t.Errorf("ParseDeviceVersion(%q): got the release's own version %p, want a fresh parse", tt.in, v)
				}
			}
		})
	}

	t.Run("nil fleet", func(t *testing.T) {
		v, err := (*Fleet)(nil).ParseDeviceVersion("v1.2")
		if err != nil || v.String() != "1.2.0" {
			t.Errorf("nil fleet ParseDeviceVersion(v1.2): got %v, %v, want 1.2.0", v, err)
		}
	})
}

func TestOutcomeString(t *testing.T) {
	tests := []struct {
		o    Outcome
		want string
	}{
		{Update, "update"},
		{UpToDate, "up_to_date"},
		{NotWhitelisted, "not_whitelisted"},
		{UnknownPlatform, "unknown_platform"},
		{BadVersion, "bad_version"},
		{0, "outcome(0)"},
		{6, "outcome(6)"},
		{255, "outcome(255)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.o.String(); got != tt.want {
				t.Errorf("Outcome(%d).String(): got %q, want %q", uint8(tt.o), got, tt.want)
			}
			text, err := tt.o.MarshalText()
			if err != nil || string(text) != tt.want {
				t.Errorf("Outcome(%d).MarshalText(): got %q, %v, want %q", uint8(tt.o), text, err, tt.want)
			}
			if tt.o == 0 || tt.o > BadVersion {
				// A decision with no valid outcome explains itself by name.
				if got := (Decision{Outcome: tt.o}).Reason(); got != tt.want {
					t.Errorf("Reason() of Outcome(%d): got %q, want %q", uint8(tt.o), got, tt.want)
				}
			}
		})
	}
}
