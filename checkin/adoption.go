package checkin

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otagit/otagit/rollout"
)

// MaxAdoptionSamples is how many samples a platform's series keeps.
const MaxAdoptionSamples = 1000

// MaxSampleVersions is how many versions a sample names; devices on other
// versions are counted together in AdoptionSample.Other.
const MaxSampleVersions = 12

// VersionCount is how many devices last reported a version.
type VersionCount struct {
	Version string `json:"version"`
	Devices int    `json:"devices"`
}

// AdoptionSample is a platform's devices by the version they last
// reported, at one time.
type AdoptionSample struct {
	At time.Time `json:"at"`
	// Versions are sorted by devices, most first, then by version; at most
	// MaxSampleVersions of them.
	Versions []VersionCount `json:"versions"`
	// Other counts the devices on versions not in Versions.
	Other int `json:"other,omitempty"`
}

// Total is the number of devices the sample counts.
func (s AdoptionSample) Total() int {
	n := s.Other
	for _, v := range s.Versions {
		n += v.Devices
	}
	return n
}

func (s AdoptionSample) sameCounts(o AdoptionSample) bool {
	return s.Other == o.Other && slices.Equal(s.Versions, o.Versions)
}

// AdoptionStore is implemented by Stores that also keep the adoption
// series, so that it survives a restart; a Tracker over a Store without it
// starts its series afresh. Both methods return ctx.Err() if ctx is done
// before they start, and ErrClosed after Close.
type AdoptionStore interface {
	// SaveAdoption replaces the series of platform.
	SaveAdoption(ctx context.Context, platform string, samples []AdoptionSample) error
	// LoadAdoption returns every platform's series.
	LoadAdoption(ctx context.Context) (map[string][]AdoptionSample, error)
}

// adoption holds the counts and the series. It is safe for concurrent
// use; a Tracker calls it with a shard's lock held (lock order: shard,
// then adoption).
type adoption struct {
	// hour is the Unix time of the hour of the last sample, so that most
	// check-ins need one atomic load to know none is due.
	hour atomic.Int64

	mu     sync.Mutex                  // guards the fields below
	counts map[string]map[string]int   // platform -> version key -> devices
	series map[string][]AdoptionSample // platform -> samples, oldest first
	dirty  map[string]bool             // platforms whose series is not saved
	// keys memoises countKey: versions are few, devices many.
	keys map[string]string
}

func newAdoption() *adoption {
	return &adoption{counts: map[string]map[string]int{}, series: map[string][]AdoptionSample{}, dirty: map[string]bool{},
		keys: map[string]string{}}
}

// load sets the series read from a store.
func (a *adoption) load(series map[string][]AdoptionSample) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for p, s := range series {
		slices.SortStableFunc(s, func(x, y AdoptionSample) int { return x.At.Compare(y.At) })
		if len(s) > MaxAdoptionSamples {
			s = s[len(s)-MaxAdoptionSamples:]
		}
		a.series[p] = s
		if n := len(s); n > 0 && s[n-1].At.Unix() > a.hour.Load() {
			a.hour.Store(s[n-1].At.Unix())
		}
	}
}

// move counts a device that reported version on platform, and no longer
// what it reported before (had is false for a device seen the first
// time).
func (a *adoption) move(had bool, oldPlatform, oldVersion, platform, version string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if had {
		if m := a.counts[oldPlatform]; m != nil {
			k := a.countKey(oldVersion)
			if m[k]--; m[k] <= 0 {
				delete(m, k)
			}
		}
	}
	m := a.counts[platform]
	if m == nil {
		m = map[string]int{}
		a.counts[platform] = m
	}
	m[a.countKey(version)]++
}

// maxKeys bounds the memo of countKey; devices can report anything.
const maxKeys = 4096

// countKey is what a version reported is counted as: the version's
// canonical form without build metadata (rollout.VersionKey), so that
// "v1.1.0" and "1.1.0+b7" count as 1.1.0; a string that is no version
// counts as itself. a.mu must be held.
func (a *adoption) countKey(version string) string {
	if k, ok := a.keys[version]; ok {
		return k
	}
	k := version
	if v, err := rollout.ParseDeviceVersion(version); err == nil {
		k = rollout.VersionKey(v)
	}
	if len(a.keys) >= maxKeys {
		clear(a.keys)
	}
	a.keys[version] = k
	return k
}

// hourOf returns the Unix time of the start of at's hour, what
// at.Truncate(time.Hour).Unix() returns (the Unix epoch is a whole number
// of hours after the zero Time), in arithmetic on the Unix time: tick runs
// on every check-in.
func hourOf(at time.Time) int64 {
	u := at.Unix()
	r := u % 3600
	if r < 0 {
		r += 3600
	}
	return u - r
}

// tick takes a sample if at is in a later hour than the last sample.
func (a *adoption) tick(at time.Time) {
	h := hourOf(at)
	if h <= a.hour.Load() {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if h <= a.hour.Load() {
		return // another check-in took it
	}
	a.hour.Store(h)
	when := time.Unix(h, 0).UTC()
	for p, m := range a.counts {
		s := sampleOf(when, m)
		prev := a.series[p]
		if n := len(prev); n > 0 && prev[n-1].sameCounts(s) {
			continue
		}
		if len(prev) >= MaxAdoptionSamples {
			prev = slices.Delete(prev, 0, len(prev)-MaxAdoptionSamples+1)
		}
		a.series[p] = append(prev, s)
		a.dirty[p] = true
	}
}

// sampleOf makes a sample at when of counts.
func sampleOf(when time.Time, counts map[string]int) AdoptionSample {
	vs := make([]VersionCount, 0, len(counts))
	for v, n := range counts {
		vs = append(vs, VersionCount{Version: v, Devices: n})
	}
	sortCounts(vs)
	s := AdoptionSample{At: when, Versions: vs}
	if len(vs) > MaxSampleVersions {
		for _, v := range vs[MaxSampleVersions:] {
			s.Other += v.Devices
		}
		s.Versions = slices.Clip(vs[:MaxSampleVersions])
	}
	return s
}

func sortCounts(vs []VersionCount) {
	slices.SortFunc(vs, func(a, b VersionCount) int {
		if c := cmp.Compare(b.Devices, a.Devices); c != 0 {
			return c
		}
		return cmp.Compare(a.Version, b.Version)
	})
}

// samples returns a copy of platform's series followed by its counts now
// as a sample at now.
func (a *adoption) samples(platform string, now time.Time) []AdoptionSample {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.series[platform]
	out := make([]AdoptionSample, len(s), len(s)+1)
	copy(out, s) // samples are never changed once made: sharing their slices is safe
	if m := a.counts[platform]; len(m) > 0 {
		out = append(out, sampleOf(now, m))
	}
	return out
}

// now returns every platform's counts, each sorted as in a sample but
// complete.
func (a *adoption) now() map[string][]VersionCount {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string][]VersionCount, len(a.counts))
	for p, m := range a.counts {
		vs := make([]VersionCount, 0, len(m))
		for v, n := range m {
			vs = append(vs, VersionCount{Version: v, Devices: n})
		}
		sortCounts(vs)
		out[p] = vs
	}
	return out
}

// unsaved returns the series changed since they were last saved, and
// marks them saved.
func (a *adoption) unsaved() map[string][]AdoptionSample {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string][]AdoptionSample, len(a.dirty))
	for p := range a.dirty {
		out[p] = slices.Clone(a.series[p])
	}
	clear(a.dirty)
	return out
}

// Adoption returns platform's adoption series, oldest first, ending with
// its counts at now. It is empty for a platform no device checked in on.
//
// The series is how the versions devices run spread over a platform's
// fleet, and how that changed: the dashboard draws a rollout's adoption
// from it.
//
// The tracker counts, per platform, the devices by the version they last
// reported (build metadata and a leading "v" aside), updated as check-ins
// change them. At the first check-in of each hour (by check-in time) it
// samples those counts; a platform's sample is kept only when it differs
// from the one before, so the series is a step function that is exact at
// every hour boundary a device checked in after, and a fleet whose
// versions do not change adds nothing. Each platform keeps at most
// MaxAdoptionSamples samples (at least MaxAdoptionSamples hours of
// changes), each with at most MaxSampleVersions versions, so memory is
// bounded by the number of platforms the config has had.
func (t *Tracker) Adoption(platform string, now time.Time) []AdoptionSample {
	return t.adoption.samples(platform, now)
}

// VersionCounts returns, per platform, the devices by the version they
// last reported, most devices first.
func (t *Tracker) VersionCounts() map[string][]VersionCount { return t.adoption.now() }

// saveAdoption saves the series that changed, if the store keeps them. A
// series that cannot be saved is marked unsaved again, for the next try.
func (t *Tracker) saveAdoption(ctx context.Context) {
	as, ok := t.store.(AdoptionStore)
	if !ok {
		return
	}
	pending := t.adoption.unsaved()
	for _, p := range slices.Sorted(maps.Keys(pending)) {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := as.SaveAdoption(sctx, p, pending[p])
		cancel()
		if err != nil {
			t.log.Error("cannot save adoption series", "platform", p, "err", err)
			t.adoption.mu.Lock()
			t.adoption.dirty[p] = true
			t.adoption.mu.Unlock()
		}
	}
}

// encodeAdoption encodes a platform's series for a Store: JSON, which is
// small enough for at most one write per platform and hour.
func encodeAdoption(platform string, samples []AdoptionSample) ([]byte, error) {
	if platform == "" || len(platform) > maxHaltKey {
		return nil, fmt.Errorf("checkin: adoption series of platform %q: bad platform name", platform)
	}
	return json.Marshal(samples)
}

// decodeAdoption decodes a stored series, times in UTC.
func decodeAdoption(platform, v []byte) ([]AdoptionSample, error) {
	var samples []AdoptionSample
	if err := json.Unmarshal(v, &samples); err != nil {
		return nil, fmt.Errorf("checkin: adoption series of %q: %w: %v", platform, ErrCorrupt, err)
	}
	for i := range samples {
		samples[i].At = samples[i].At.UTC()
	}
	return samples, nil
}
