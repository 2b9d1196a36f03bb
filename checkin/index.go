package checkin

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/otagit/otagit/rollout"
)

// macIndex is the sorted list of the MACs a Tracker has seen, kept so that
// a page of devices in MAC order costs a walk, not a copy and sort of
// every summary. It is safe for concurrent use.
type macIndex struct {
	sorted atomic.Pointer[[]rollout.MAC] // never modified after Store

	mu     sync.Mutex    // guards joined
	joined []rollout.MAC // seen since sorted was built, in no order
}

// init sets the index to macs, which must be sorted.
func (x *macIndex) init(macs []rollout.MAC) { x.sorted.Store(&macs) }

// add records a MAC seen for the first time. It is called with a shard's
// lock held; the lock order is shard, then index.
func (x *macIndex) add(mac rollout.MAC) {
	x.mu.Lock()
	x.joined = append(x.joined, mac)
	x.mu.Unlock()
}

// macs returns every MAC added, sorted. New devices are rare next to page
// views, so they are merged in here, once, rather than inserted one by one.
func (x *macIndex) macs() []rollout.MAC {
	x.mu.Lock()
	defer x.mu.Unlock()
	cur := *x.sorted.Load()
	if len(x.joined) == 0 {
		return cur
	}
	slices.SortFunc(x.joined, compareMAC)
	next := make([]rollout.MAC, 0, len(cur)+len(x.joined))
	i, j := 0, 0
	for i < len(cur) && j < len(x.joined) {
		if compareMAC(cur[i], x.joined[j]) <= 0 {
			next = append(next, cur[i])
			i++
		} else {
			next = append(next, x.joined[j])
			j++
		}
	}
	next = append(append(next, cur[i:]...), x.joined[j:]...)
	x.joined = x.joined[:0]
	x.sorted.Store(&next)
	return next
}

// Index returns the MACs of every device that checked in, sorted. The
// slice is shared and never modified: callers must not modify it either.
// With Match and Device it pages through devices without copying their
// summaries.
func (t *Tracker) Index() []rollout.MAC { return t.index.macs() }

// Match reports whether the device mac checked in (seen) and whether its
// summary matches m, without copying the summary.
func (t *Tracker) Match(mac rollout.MAC, m *Matcher) (matched, seen bool) {
	sh := t.shard(mac)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	d, ok := sh.devs[mac]
	if !ok {
		return false, false
	}
	return m.Match(&d.Device), true
}

// Page returns the devices matching f, in MAC order, skipping the first
// offset of them (and, with f.After, those at or before it) and returning
// at most limit, and how many match in all (f.After aside).
// Only the summaries returned are copied.
func (t *Tracker) Page(f Filter, offset, limit int) (page []Device, total int) {
	m := f.Matcher()
	for _, mac := range t.Index() {
		if ok, _ := t.Match(mac, m); !ok {
			continue
		}
		if total >= offset && len(page) < limit && (f.After == nil || bytes.Compare(mac[:], f.After[:]) > 0) {
			if d, ok := t.Device(mac); ok {
				page = append(page, d)
			}
		}
		total++
	}
	return page, total
}

// Filter selects devices for Devices and Page. Empty fields match
// everything.
type Filter struct {
	Platform string
	Version  string // the version last reported, compared as semver text
	// Outcome is "success" or "failure" (the latest outcome), "pending"
	// (an offer not yet resolved) or "none" (neither).
	Outcome string
	// After, when set, is a paging cursor: Page returns only devices whose
	// MAC sorts after it (the last MAC of the previous page).
	After *rollout.MAC
}

// Matcher is a Filter ready to test many devices: what the filter's
// version matches is worked out once per version string reported. A
// Matcher is not safe for concurrent use.
type Matcher struct {
	f        Filter
	versions map[string]bool // version reported -> whether it is f.Version
}

// Matcher returns a Matcher for f.
func (f Filter) Matcher() *Matcher { return &Matcher{f: f, versions: map[string]bool{}} }

// Match reports whether d matches the filter.
func (m *Matcher) Match(d *Device) bool {
	f := &m.f
	if f.Platform != "" && !strings.EqualFold(f.Platform, d.Platform) {
		return false
	}
	if f.Version != "" {
		same, ok := m.versions[d.LastVersion]
		if !ok {
			same = sameVersion(f.Version, d.LastVersion)
			m.versions[d.LastVersion] = same
		}
		if !same {
			return false
		}
	}
	switch f.Outcome {
	case "":
	case "pending":
		return d.Offer != nil
	case "none":
		return d.Offer == nil && len(d.Outcomes) == 0
	default:
		return len(d.Outcomes) > 0 && d.Outcomes[0].Result.String() == f.Outcome
	}
	return true
}
