package rollout

import (
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/Masterminds/semver/v3"
)

func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{
		"AA:BB:CC:DD:EE:FF", "aa-bb-cc-dd-ee-ff", "aabbccddeeff", " \tAA:BB:CC:DD:EE:FF\t ",
		"AA:BB-CC:DD:EE:FF", "AAB:BCC:DDE:EFF::", "aabb.ccdd.eeff", "", "AA:BB:CC:DD:EE:FG",
		"00:00:00:00:00:00:00:00", "\nAABBCCDDEEFF",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMAC(s)
		trimmed := strings.Trim(s, " \t")

		// Differential check against the standard library for the
		// separated form, which both accept.
		if len(trimmed) == 17 && (trimmed[2] == ':' || trimmed[2] == '-') {
			hw, nerr := net.ParseMAC(trimmed)
			if (err == nil) != (nerr == nil) {
				t.Fatalf("ParseMAC(%q) error %v, but net.ParseMAC error %v", s, err, nerr)
			}
			if err == nil && string(hw) != string(m[:]) {
				t.Fatalf("ParseMAC(%q) = %v, but net.ParseMAC = %v", s, m, hw)
			}
		}

		if err != nil {
			if !errors.Is(err, ErrBadMAC) {
				t.Fatalf("ParseMAC(%q): got error %v, want one wrapping ErrBadMAC", s, err)
			}
			if m != (MAC{}) {
				t.Fatalf("ParseMAC(%q) on error: got %v, want the zero MAC", s, m)
			}
			return
		}
		if n := len(trimmed); n != 12 && n != 17 {
			t.Fatalf("ParseMAC(%q) accepted %d characters after trimming, want 12 or 17", s, n)
		}
		str := m.String()
		back, err := ParseMAC(str)
		if err != nil {
			t.Fatalf("ParseMAC(%q) of String() of ParseMAC(%q): got error %v", str, s, err)
		}
		if back != m {
			t.Fatalf("ParseMAC(String()): got %v, want %v", back, m)
		}
		if lower, err := ParseMAC(strings.ToLower(trimmed)); err != nil || lower != m {
			t.Fatalf("ParseMAC(%q): got %v, %v, want %v (case must not matter)", strings.ToLower(trimmed), lower, err, m)
		}
	})
}

func FuzzParseDeviceVersion(f *testing.F) {
	for _, s := range []string{
		"1.0.2", "v1.0.2", "V1.2", "1", " 1.0.0 ", "", "v", "abc", "01.2.3", "1.2.3-rc.1+b.2",
		"1.2.3-", "1.2.3-01", "vv1", "99999999999999999999.0.0", "1.9.0", "v1.2.0", "1.0.0+build",
	} {
		f.Add(s)
	}
	fleet := testFleet(f)
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseDeviceVersion(s)

		// The fleet's fast path must agree with a full parse.
		fv, ferr := fleet.ParseDeviceVersion(s)
		if (err == nil) != (ferr == nil) {
			t.Fatalf("ParseDeviceVersion(%q) error %v, but Fleet.ParseDeviceVersion error %v", s, err, ferr)
		}
		if err != nil {
			if !errors.Is(err, ErrBadVersion) {
				t.Fatalf("ParseDeviceVersion(%q): got error %v, want one wrapping ErrBadVersion", s, err)
			}
			if v != nil {
				t.Fatalf("ParseDeviceVersion(%q) on error: got %v, want nil", s, v)
			}
			return
		}
		if fv.String() != v.String() {
			t.Fatalf("Fleet.ParseDeviceVersion(%q): got %s, want %s as ParseDeviceVersion", s, fv, v)
		}
		// The canonical form reads back as the same version. It can be
		// longer than the input ("1" -> "1.0.0"), and the semver library
		// refuses more than semver.MaxVersionLen bytes, so only check
		// canonical forms within that limit.
		c := v.String()
		if len(c) > semver.MaxVersionLen {
			return
		}
		back, err := ParseDeviceVersion(c)
		if err != nil {
			t.Fatalf("ParseDeviceVersion(%q) of the canonical form of %q: got error %v", c, s, err)
		}
		if back.String() != c {
			t.Fatalf("ParseDeviceVersion(%q): got %s, want %s", c, back, c)
		}
		if _, err := ParseReleaseVersion(c); err != nil {
			t.Fatalf("ParseReleaseVersion(%q) of the canonical form of %q: got error %v", c, s, err)
		}
	})
}

func FuzzParseReleaseVersion(f *testing.F) {
	for _, s := range []string{
		"1.2.3", "v1.2.3", "V0.0.0", "1.2", "01.2.3", "", "v", "1.2.3-rc.1+build.5", "1.2.3-", "1.2.3+",
		"1.2.3-a-b", "1.2.3--", "1.2.3-0a", "1.2.3+0", " 1.2.3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rv, err := ParseReleaseVersion(s)
		if err != nil {
			if !errors.Is(err, ErrBadVersion) {
				t.Fatalf("ParseReleaseVersion(%q): got error %v, want one wrapping ErrBadVersion", s, err)
			}
			return
		}
		dv, err := ParseDeviceVersion(s)
		if err != nil {
			t.Fatalf("ParseReleaseVersion(%q) = %s, but ParseDeviceVersion error %v", s, rv, err)
		}
		if !dv.Equal(rv) || dv.String() != rv.String() {
			t.Fatalf("ParseDeviceVersion(%q) = %s, want %s as ParseReleaseVersion", s, dv, rv)
		}
		if got := rv.String(); got != strings.TrimLeft(s, "vV") {
			t.Fatalf("ParseReleaseVersion(%q).String(): got %q, want the input without its v", s, got)
		}
	})
}

func FuzzDecide(f *testing.F) {
	fleet := testFleet(f)
	for _, d := range fleet.Devices() {
		f.Add(d.MAC[:], d.Platform, "1.0.0")
		f.Add(d.MAC[:], "", "v1.9.0")
	}
	f.Add([]byte{0}, "LAMP", "1.10.0-rc.1")
	f.Add([]byte{1}, "thermostat", "2.1")
	f.Add([]byte{2}, "", "garbage")
	f.Add(macNone[:], "lamp", "1.0.0")
	f.Add([]byte{}, "fridge", "")
	f.Fuzz(func(t *testing.T, macBytes []byte, platform, version string) {
		var mac MAC
		switch {
		case len(macBytes) >= len(mac):
			copy(mac[:], macBytes)
		case len(macBytes) > 0:
			// Short inputs pick a whitelisted device, so that the fuzzer
			// reaches the version logic often.
			devs := fleet.Devices()
			mac = devs[int(macBytes[0])%len(devs)].MAC
		}
		req := Request{MAC: mac, Platform: platform, Version: version}
		d := Decide(fleet, req, nil)
		checkDecision(t, fleet, req, d)
	})
}

// checkDecision checks the invariants every decision satisfies.
func checkDecision(t *testing.T, fleet *Fleet, req Request, d Decision) {
	t.Helper()
	if d.Outcome < Update || d.Outcome > BadVersion {
		t.Fatalf("Decide(%+v): got Outcome %v, want one of the five", req, d.Outcome)
	}
	if d.Request != req {
		t.Fatalf("Decide(%+v): got Request %+v", req, d.Request)
	}
	if d.Device != nil && d.Device.MAC != req.MAC {
		t.Fatalf("Decide(%+v): got Device %v", req, d.Device.MAC)
	}
	if d.Reason() == "" {
		t.Fatalf("Decide(%+v): got an empty Reason()", req)
	}
	switch d.Outcome {
	case Update:
		if d.Release == nil || d.Current == nil {
			t.Fatalf("Decide(%+v) = update with Release %v, Current %v; want both", req, d.Release, d.Current)
		}
		if !d.Release.Version.GreaterThan(d.Current) {
			t.Fatalf("Decide(%+v) = update to %s, not newer than the running %s", req, d.Release.Version, d.Current)
		}
		if d.Release.Version.Prerelease() != "" {
			t.Fatalf("Decide(%+v) = update to pre-release %s", req, d.Release.Version)
		}
		if d.Release.Platform != d.Device.Platform || d.Platform.Name != d.Device.Platform {
			t.Fatalf("Decide(%+v) = update to a %s release for a %s device", req, d.Release.Platform, d.Device.Platform)
		}
	case UpToDate:
		if d.Current == nil || d.Device == nil || d.Platform == nil {
			t.Fatalf("Decide(%+v) = up to date with Current %v, Device %v, Platform %v; want all", req, d.Current, d.Device, d.Platform)
		}
		if d.Release != nil && d.Release.Version.GreaterThan(d.Current) {
			t.Fatalf("Decide(%+v) = up to date, but %s is newer than %s", req, d.Release.Version, d.Current)
		}
	case NotWhitelisted:
		if dev := fleet.Device(req.MAC); dev != nil && (req.Platform == "" || strings.EqualFold(dev.Platform, req.Platform)) {
			t.Fatalf("Decide(%+v) = not whitelisted, but %v is whitelisted for %s", req, req.MAC, dev.Platform)
		}
	case UnknownPlatform:
		if req.Platform == "" || fleet.Platform(req.Platform) != nil {
			t.Fatalf("Decide(%+v) = unknown platform for a known or empty name", req)
		}
	case BadVersion:
		if !errors.Is(d.Err, ErrBadVersion) || d.Current != nil {
			t.Fatalf("Decide(%+v) = bad version with Err %v, Current %v", req, d.Err, d.Current)
		}
	}
}

// TestDecideDeterministic decides 10,000 random requests twice, the second
// time concurrently, and wants the same answers.
func TestDecideDeterministic(t *testing.T) {
	fleet := testFleet(t)
	devs := fleet.Devices()
	platforms := []string{"", "lamp", "LAMP", "thermostat", "fridge"}
	versions := []string{"", "1.0.0", "v1.9.0", "1.9", "1.10.0-rc.1", "2.1.0", "3", "junk"}
	rng := rand.New(rand.NewPCG(20240501, 7))

	const n = 10000
	reqs := make([]Request, n)
	first := make([]Decision, n)
	seen := map[Outcome]int{}
	for i := range reqs {
		var mac MAC
		if rng.IntN(2) == 0 {
			mac = devs[rng.IntN(len(devs))].MAC
		} else {
			for j := range mac {
				mac[j] = byte(rng.Uint32())
			}
		}
		reqs[i] = Request{
			MAC:      mac,
			Platform: platforms[rng.IntN(len(platforms))],
			Version:  versions[rng.IntN(len(versions))],
		}
		first[i] = Decide(fleet, reqs[i], nil)
		checkDecision(t, fleet, reqs[i], first[i])
		seen[first[i].Outcome]++
	}
	for o := Update; o <= BadVersion; o++ {
		if seen[o] == 0 {
			t.Errorf("outcome %v never decided in %d random requests, want every outcome", o, n)
		}
	}

	const workers = 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				a, b := first[i], Decide(fleet, reqs[i], nil)
				if !sameDecision(a, b) {
					t.Errorf("Decide(%+v): got %v (%s) then %v (%s), want the same", reqs[i], a.Outcome, a.Reason(), b.Outcome, b.Reason())
				}
			}
		})
	}
	wg.Wait()
}

func sameDecision(a, b Decision) bool {
	sameVersion := func(x, y *semver.Version) bool {
		return (x == nil) == (y == nil) && (x == nil || x.String() == y.String())
	}
	sameErr := func(x, y error) bool {
		return (x == nil) == (y == nil) && (x == nil || x.Error() == y.Error())
	}
	return a.Outcome == b.Outcome && a.Request == b.Request &&
		a.Platform == b.Platform && a.Device == b.Device && a.Release == b.Release &&
		sameVersion(a.Current, b.Current) && sameErr(a.Err, b.Err) && a.Reason() == b.Reason()
}

func FuzzParseReleaseID(f *testing.F) {
	for _, s := range []string{
		"1.1.0", "v1.1.0", "V1.1.0+build.7", "1.1", "01.1.0", "1.1.0+", "1.1.0+a..b", "1.1.0+-", "2.0.0-rc.1",
		"999999999999999999.0.0", "9999999999999999999.0.0", " 1.1.0", "1.1.0.", ".1.1.0", "1..1", "",
	} {
		f.Add("lamp", s)
	}
	f.Fuzz(func(t *testing.T, platform, s string) {
		id, err := ParseReleaseID(platform, s)
		// The fast path must agree with a full parse.
		v, perr := ParseDeviceVersion(s)
		if (err == nil) != (perr == nil) {
			t.Fatalf("ParseReleaseID(%q, %q) error %v, but ParseDeviceVersion error %v", platform, s, err, perr)
		}
		if err != nil {
			if id != (ReleaseID{}) {
				t.Fatalf("ParseReleaseID(%q, %q) on error: got %#v, want the zero ReleaseID", platform, s, id)
			}
			return
		}
		if want := IDOf(platform, v); id != want {
			t.Fatalf("ParseReleaseID(%q, %q): got %#v, want %#v as IDOf(ParseDeviceVersion)", platform, s, id, want)
		}
		if want := v.String(); !strings.HasPrefix(want, id.Version) || (len(want) > len(id.Version) && want[len(id.Version)] != '+') {
			t.Fatalf("ParseReleaseID(%q, %q).Version = %q, want %q without build metadata", platform, s, id.Version, want)
		}
		if id.Platform != strings.ToLower(platform) {
			t.Fatalf("ParseReleaseID(%q, %q).Platform = %q, want it lower case", platform, s, id.Platform)
		}
		// An identity reads back as itself.
		if back, err := ParseReleaseID(id.Platform, id.Version); err != nil || back != id {
			t.Fatalf("ParseReleaseID of %#v: got %#v, %v", id, back, err)
		}
	})
}
