package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/otagit/otagit/rollout"
)

// MaxPlatforms caps the platform label: device requests of platforms
// beyond the first MaxPlatforms seen are counted as platform "other".
// Platforms are named by the config, never by devices (a platform a
// device names that does not exist is "unknown"), so the cap only
// matters for a config with very many platforms.
const MaxPlatforms = 64

// Label values of requests that resolved no platform, and of platforms
// over MaxPlatforms.
const (
	platformUnknown = "unknown"
	platformOther   = "other"
)

// deviceKey is a device request's labels in the form the request path
// has them at hand; labels() turns it into text at scrape time only.
type deviceKey struct {
	platform string
	status   uint16
	client   string
	outcome  rollout.Outcome
	why      rollout.Why
}

// deviceCount is one series of otagit_device_requests_total.
type deviceCount struct {
	key deviceKey // the labels it is exported with (platform capped)
	n   atomic.Uint64
}

// deviceTable counts device requests by key. The request path reads an
// immutable map through an atomic pointer, with no lock and no
// allocation; a key seen for the first time takes the lock and swaps in
// a copy of the map with it. Keys are bounded (clients, statuses,
// outcomes, rules and config platforms), so copies stop soon.
type deviceTable struct {
	m atomic.Pointer[map[deviceKey]*deviceCount]

	mu        sync.Mutex
	series    []*deviceCount      // guarded by mu: each exported series once
	platforms map[string]struct{} // guarded by mu: platforms with their own label
}

func newDeviceTable() *deviceTable {
	t := &deviceTable{platforms: map[string]struct{}{}}
	m := map[deviceKey]*deviceCount{}
	t.m.Store(&m)
	return t
}

func (t *deviceTable) inc(k deviceKey) {
	if c := (*t.m.Load())[k]; c != nil {
		c.n.Add(1)
		return
	}
	t.add(k).n.Add(1)
}

// add returns the series of k, making it (and the map entry that finds
// it) when it is new.
func (t *deviceTable) add(k deviceKey) *deviceCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	if c := old[k]; c != nil {
		return c
	}
	exported := k
	if _, ok := t.platforms[k.platform]; !ok && k.platform != platformUnknown {
		if len(t.platforms) < MaxPlatforms {
			t.platforms[k.platform] = struct{}{}
		} else {
			exported.platform = platformOther
		}
	}
	c := old[exported]
	if c == nil {
		c = &deviceCount{key: exported}
		t.series = append(t.series, c)
	}
	m := make(map[deviceKey]*deviceCount, len(old)+2)
	for key, v := range old {
		m[key] = v
	}
	m[k], m[exported] = c, c
	t.m.Store(&m)
	return c
}

// snapshot returns every series, each once.
func (t *deviceTable) snapshot() []*deviceCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*deviceCount(nil), t.series...)
}

// labels returns k's label values in the order of deviceLabels.
func (k deviceKey) labels() []string {
	decision, reason := "none", refusalReason(int(k.status))
	if k.outcome != 0 {
		decision, reason = k.outcome.String(), k.why.String()
	}
	return []string{k.client, strconv.Itoa(int(k.status)), decision, reason, k.platform}
}

var deviceLabels = []string{"endpoint", "status", "decision", "reason", "platform"}

// refusalReason names a request refused before any decision, by its
// status.
func refusalReason(status int) string {
	switch status {
	case 400:
		return "malformed"
	case 401:
		return "unauthorized"
	case 404:
		return "not_found"
	case 503:
		return "no_config"
	}
	if status < 400 {
		return "none"
	}
	return "refused"
}
