package checkin

import (
	"strings"
	"time"

	"github.com/otagit/otagit/rollout"
)

// Auth says how a check-in's request proved which device sent it; the
// device path sets it from the device authorizer's answer. It is not
// stored: it decides, when the check-in is observed, whether the check-in
// may move outcome counts at once (see mayCount).
type Auth uint8

const (
	// AuthNone: no credential (none is configured for the device).
	AuthNone Auth = iota
	// AuthShared: a platform's or group's credential, which every device
	// of it holds, so its holder can speak for any of them.
	AuthShared
	// AuthDevice: the device's own credential, bound to its MAC or name.
	AuthDevice
)

// String names a for logs: "none", "shared" or "device".
func (a Auth) String() string {
	switch a {
	case AuthShared:
		return "shared"
	case AuthDevice:
		return "device"
	}
	return "none"
}

// Defaults of the limits on how fast check-ins that anyone could have
// sent move outcome counts (TrackerOptions.AttemptGap, AddressMACs,
// AddressWindow).
const (
	DefaultAttemptGap    = time.Minute
	DefaultAddressMACs   = 16
	DefaultAddressWindow = time.Hour
)

// mayCount is the per-device rule for whether a check-in that would
// settle or advance a device's pending offer may do so now. One with the
// device's own credential always may: only the device could have sent
// it. Otherwise a failed attempt (the old version again) counts only when
// gap has passed since the device's counts last moved (last: its offer
// or its last counted check-in), so that three requests in a second are
// one attempt, not three; a device's first check-in after its offer, a
// success after a reboot say, settles at once. The address limit
// (addressLimiter) applies on top. A check-in that may not is still
// recorded: the offer stays pending and a later check-in settles it.
func mayCount(auth Auth, attempt bool, last, at time.Time, gap time.Duration) bool {
	if auth == AuthDevice || !attempt {
		return true
	}
	return last.IsZero() || at.Sub(last) >= gap
}

// addressLimiter bounds how many distinct MACs one remote address may
// move outcome counts for per window: someone who knows many MACs cannot
// fail (or pass) them all from one address. Its time is the check-ins'
// time, so it is as deterministic as they are. It is guarded by the
// Tracker's statsMu.
type addressLimiter struct {
	max    int           // distinct MACs per address per window; <= 0: no limit
	window time.Duration // how long an address's set of MACs lasts
	hosts  map[string]*addressWindow
}

type addressWindow struct {
	start time.Time
	macs  map[rollout.MAC]struct{}
}

// maxHosts bounds the limiter's memory: beyond it, expired windows are
// dropped, and if none has expired, new addresses move nothing until one
// does.
const maxHosts = 1 << 16

// allow reports whether a check-in from remote at may move mac's counts,
// and if so counts mac for remote's window. A check-in with no address
// (recorded in-process, not over HTTP) is not limited.
func (l *addressLimiter) allow(remote string, mac rollout.MAC, at time.Time) bool {
	host := hostOf(remote)
	if l.max <= 0 || host == "" {
		return true
	}
	w := l.hosts[host]
	if w != nil && at.Sub(w.start) >= l.window {
		clear(w.macs)
		w.start = at
	}
	if w == nil {
		if len(l.hosts) >= maxHosts {
			l.expire(at)
			if len(l.hosts) >= maxHosts {
				return false
			}
		}
		w = &addressWindow{start: at, macs: map[rollout.MAC]struct{}{}}
		l.hosts[host] = w
	}
	if _, ok := w.macs[mac]; ok {
		return true
	}
	if len(w.macs) >= l.max {
		return false
	}
	w.macs[mac] = struct{}{}
	return true
}

// expire drops the windows that ended before at.
func (l *addressLimiter) expire(at time.Time) {
	for h, w := range l.hosts {
		if at.Sub(w.start) >= l.window {
			delete(l.hosts, h)
		}
	}
}

// hostOf is remote, an http.Request's RemoteAddr ("ip:port", "[v6]:port",
// or behind trusted proxies a bare address), without its port: a device
// opens a new connection, from a new port, every poll. It runs for every
// check-in, so it does not allocate.
func hostOf(remote string) string {
	if strings.HasPrefix(remote, "[") {
		if i := strings.IndexByte(remote, ']'); i > 0 {
			return remote[1:i]
		}
		return remote
	}
	if i := strings.IndexByte(remote, ':'); i >= 0 && i == strings.LastIndexByte(remote, ':') {
		return remote[:i]
	}
	return remote // a bare address, IPv4 or IPv6
}
