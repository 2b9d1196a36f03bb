package checkin

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/otagit/otagit/rollout"
)

// Memory is a Store that keeps everything in memory until Close, for tests
// and for servers that need no check-in history across restarts. It keeps
// records in the same encoding as Bolt, so it normalises times, copies
// slices and reports corruption exactly as Bolt does. It is safe for
// concurrent use. The zero Memory is not usable: make one with NewMemory.
type Memory struct {
	keep int

	// mu guards everything below.
	mu       sync.RWMutex
	closed   bool
	seq      uint64                       // last sequence number given to a check-in
	checkins map[rollout.MAC][]memCheckIn // oldest first
	devices  map[rollout.MAC][]byte
	halts    map[string][]byte // by haltKey
	adoption map[string][]byte // by platform
}

// memCheckIn is a stored check-in, ordered by (tkey, seq) as Bolt's key
// orders it.
type memCheckIn struct {
	tkey, seq uint64
	value     []byte
}

var (
	_ Store         = (*Memory)(nil)
	_ AdoptionStore = (*Memory)(nil)
)

// NewMemory returns an empty Memory that keeps DefaultKeepPerDevice
// check-ins per device.
func NewMemory() *Memory { return NewMemoryKeep(DefaultKeepPerDevice) }

// NewMemoryKeep returns an empty Memory that keeps keepPerDevice check-ins
// per device (DefaultKeepPerDevice if keepPerDevice <= 0), like
// BoltOptions.KeepPerDevice.
func NewMemoryKeep(keepPerDevice int) *Memory {
	if keepPerDevice <= 0 {
		keepPerDevice = DefaultKeepPerDevice
	}
	return &Memory{
		keep:     keepPerDevice,
		checkins: make(map[rollout.MAC][]memCheckIn),
		devices:  make(map[rollout.MAC][]byte),
		halts:    make(map[string][]byte),
		adoption: make(map[string][]byte),
	}
}

// Close drops everything stored.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.checkins, m.devices, m.halts, m.adoption = nil, nil, nil, nil
	return nil
}

// lock takes the write lock after checking ctx; it fails, unlocked, on a
// closed store.
func (m *Memory) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

func (m *Memory) rlock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// Save implements Store.
func (m *Memory) Save(ctx context.Context, checkins []CheckIn, devices []Device) error {
	b := encodeBatch(checkins, devices) // outside the lock: it is most of the work
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	for _, c := range b.checkins {
		m.seq++
		// Cloned out of the batch's arena, which would otherwise stay
		// alive as long as any one of its records is kept.
		rec := memCheckIn{tkey: c.tkey, seq: m.seq, value: bytes.Clone(c.value)}
		list := m.checkins[c.mac]
		// Usually the newest, so usually appended.
		i, _ := slices.BinarySearchFunc(list, rec, compareMemCheckIn)
		m.checkins[c.mac] = slices.Insert(list, i, rec)
	}
	for _, a := range b.added {
		if list := m.checkins[a.mac]; len(list) > m.keep {
			n := copy(list, list[len(list)-m.keep:])
			clear(list[n:]) // let the dropped records be collected
			m.checkins[a.mac] = list[:n]
		}
	}
	for _, d := range b.devices {
		m.devices[d.mac] = bytes.Clone(d.value)
	}
	return nil
}

func compareMemCheckIn(a, b memCheckIn) int {
	if c := cmp.Compare(a.tkey, b.tkey); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// LoadDevices implements Store.
func (m *Memory) LoadDevices(ctx context.Context) ([]Device, error) {
	if err := m.rlock(ctx); err != nil {
		return nil, err
	}
	values := make([][]byte, 0, len(m.devices))
	for _, v := range m.devices {
		values = append(values, v)
	}
	m.mu.RUnlock()
	var out []Device
	for _, v := range values {
		d, err := decodeDevice(v)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Device) int { return compareMAC(a.MAC, b.MAC) })
	return out, nil
}

// History implements Store.
func (m *Memory) History(ctx context.Context, mac rollout.MAC, limit int) ([]CheckIn, error) {
	if err := m.rlock(ctx); err != nil {
		return nil, err
	}
	list := m.checkins[mac]
	if limit <= 0 || limit > len(list) {
		limit = len(list)
	}
	// Values are never modified once stored, so they can be decoded
	// after unlocking; the slice headers must be copied under the lock.
	values := make([][]byte, limit)
	for i := range values {
		values[i] = list[len(list)-1-i].value
	}
	m.mu.RUnlock()
	if len(values) == 0 {
		return nil, nil
	}
	out := make([]CheckIn, 0, len(values))
	for _, v := range values {
		c, err := decodeCheckIn(v)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// PutHalt implements Store.
func (m *Memory) PutHalt(ctx context.Context, h Halt) error {
	if err := validateHalt(&h); err != nil {
		return err
	}
	v := appendHalt(nil, &h)
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.halts[haltKey(h.Platform, h.Version)] = v
	return nil
}

// DeleteHalt implements Store.
func (m *Memory) DeleteHalt(ctx context.Context, platform, version string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	delete(m.halts, haltKey(platform, version))
	return nil
}

// Halts implements Store.
func (m *Memory) Halts(ctx context.Context) ([]Halt, error) {
	if err := m.rlock(ctx); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(m.halts))
	for k := range m.halts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	values := make([][]byte, len(keys))
	for i, k := range keys {
		values[i] = m.halts[k]
	}
	m.mu.RUnlock()
	var out []Halt
	for _, v := range values {
		h, err := decodeHalt(v)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func compareMAC(a, b rollout.MAC) int {
	for i := range a {
		if c := cmp.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// SaveAdoption implements AdoptionStore.
func (m *Memory) SaveAdoption(ctx context.Context, platform string, samples []AdoptionSample) error {
	v, err := encodeAdoption(platform, samples)
	if err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.adoption[platform] = v
	return nil
}

// LoadAdoption implements AdoptionStore.
func (m *Memory) LoadAdoption(ctx context.Context) (map[string][]AdoptionSample, error) {
	if err := m.rlock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	out := make(map[string][]AdoptionSample, len(m.adoption))
	for p, v := range m.adoption {
		samples, err := decodeAdoption([]byte(p), v)
		if err != nil {
			return nil, err
		}
		out[p] = samples
	}
	return out, nil
}
