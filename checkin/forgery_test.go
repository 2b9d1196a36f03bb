package checkin

import (
	"strconv"
	"testing"
	"time"

	"github.com/otagit/otagit/rollout"
)

// forge observes a check-in of device i reporting version, at `at`, from
// remote with auth, decided as the HTTP handler decides it.
func (fx *trackerFixture) forge(i int, version, remote string, auth Auth, at time.Time) rollout.Decision {
	dec := rollout.Decide(fx.fleet.Load(), rollout.Request{MAC: mac(i), Version: version, Now: at}, fx.tr)
	c := CheckIn{MAC: mac(i), At: at, Platform: "lamp", Version: version, FreeSpace: -1, ChipSize: -1,
		Status: 304, Decision: dec.Outcome.String(), Remote: remote, Auth: auth}
	if dec.Outcome == rollout.Update {
		c.Status, c.Offered = 200, dec.Release.Version.String()
	}
	fx.tr.Observe(c, dec)
	return dec
}

// TestForgedCheckInsInQuickSuccessionDoNotFail: a download and then
// check-ins with the old version, all within a second, as curl sends
// them, fail nothing; the same sequence a minute apart (a device that
// polls) fails the update, as with the device's own credential at once.
func TestForgedCheckInsInQuickSuccessionDoNotFail(t *testing.T) {
	fx := newTrackerFixture(t, NewMemory()) // FailAfter 2, halt at 50% over 2
	at := fx.now
	for i := range 2 {
		for k := range 5 {
			fx.forge(i, "1.0.0", "203.0.113.9:4000", AuthNone, at.Add(time.Duration(k)*time.Millisecond))
		}
	}
	if _, ok := fx.latest(0); ok {
		t.Fatal("check-ins a millisecond apart settled an outcome")
	}
	if fx.tr.Halted(fx.r11) {
		t.Fatal("forged check-ins halted the release")
	}
	for k := 1; k <= 2; k++ { // a device polling every minute
		fx.forge(0, "1.0.0", "203.0.113.9:4000", AuthNone, at.Add(time.Duration(k)*DefaultAttemptGap))
	}
	if res, ok := fx.latest(0); !ok || res != Failure {
		t.Fatalf("a minute apart: outcome %v %v, want a failure", res, ok)
	}
	// The device's own credential proves the check-ins are the device's.
	for k := range 3 {
		fx.forge(2, "1.0.0", "203.0.113.9:4000", AuthDevice, at.Add(time.Duration(k)*time.Millisecond))
	}
	if res, ok := fx.latest(2); !ok || res != Failure {
		t.Fatalf("own credential: outcome %v %v, want a failure", res, ok)
	}
}

// TestOneAddressMovesFewMACs: one address moves the counts of at most
// AddressMACs devices per window; the others' offers stay pending and
// settle after the window.
func TestOneAddressMovesFewMACs(t *testing.T) {
	fx := newTrackerFixture(t, NewMemory())
	fx.tr.limit.max = 3 // of 10 devices
	at := fx.now
	for i := range 10 {
		fx.forge(i, "1.0.0", "203.0.113.9:4000", AuthShared, at) // offered
	}
	for k := 1; k <= 2; k++ {
		for i := range 10 {
			fx.forge(i, "1.0.0", "203.0.113.9:4000", AuthShared, at.Add(time.Duration(k)*DefaultAttemptGap))
		}
	}
	failed := 0
	for i := range 10 {
		if _, ok := fx.latest(i); ok {
			failed++
		}
	}
	if failed != 3 {
		t.Fatalf("%d devices failed from one address, want 3", failed)
	}
	// Another address is not limited by the first one's window.
	for k := 1; k <= 2; k++ {
		fx.forge(9, "1.0.0", "198.51.100.1:1", AuthShared, at.Add(time.Duration(2+k)*DefaultAttemptGap))
	}
	if _, ok := fx.latest(9); !ok {
		t.Fatal("a second address could not settle device 9")
	}
	// After the window, the first address moves others.
	later := at.Add(DefaultAddressWindow + time.Hour)
	for k := range 2 {
		fx.forge(5, "1.0.0", "203.0.113.9:4000", AuthShared, later.Add(time.Duration(k)*DefaultAttemptGap))
	}
	if _, ok := fx.latest(5); !ok {
		t.Fatal("after the window, device 5 still unsettled")
	}
}

func TestAddressLimiterBounded(t *testing.T) {
	l := addressLimiter{max: 1, window: time.Hour, hosts: map[string]*addressWindow{}}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxHosts {
		if !l.allow("10.0."+strconv.Itoa(i>>8)+"."+strconv.Itoa(i&255)+":1", mac(1), at) {
			t.Fatalf("host %d refused", i)
		}
	}
	if l.allow("192.0.2.1:1", mac(1), at) {
		t.Error("a host beyond maxHosts allowed before any window expired")
	}
	if !l.allow("192.0.2.1:1", mac(1), at.Add(time.Hour)) || len(l.hosts) > maxHosts {
		t.Errorf("after expiry: refused, or %d hosts", len(l.hosts))
	}
	if !l.allow("", mac(2), at) {
		t.Error("a check-in without an address limited")
	}
}

// TestHostOf: the port goes, whatever form the address takes, and a bare
// IPv6 address (from a forwarding header) stays whole.
func TestHostOf(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.7:49152":    "192.0.2.7",
		"192.0.2.7":          "192.0.2.7",
		"[2001:db8::7]:4000": "2001:db8::7",
		"2001:db8::7":        "2001:db8::7",
		"":                   "",
	} {
		if got := hostOf(remote); got != want {
			t.Errorf("hostOf(%q) = %q, want %q", remote, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { hostOf("[2001:db8::7]:4000") }); n != 0 {
		t.Errorf("hostOf allocates %v times", n)
	}
}
