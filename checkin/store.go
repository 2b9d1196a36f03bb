package checkin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/otagit/otagit/rollout"
)

// Errors returned (possibly wrapped) by Stores; test with errors.Is.
var (
	// ErrClosed is returned by every Store method called after Close.
	ErrClosed = errors.New("store closed")
	// ErrCorrupt is returned when a stored record cannot be decoded.
	ErrCorrupt = errors.New("corrupt record")
	// ErrInvalidHalt is returned by PutHalt for a Halt that cannot be
	// stored: no platform, no version, a key too long, an unknown kind or
	// a stage out of range.
	ErrInvalidHalt = errors.New("invalid halt")
)

// DefaultKeepPerDevice is how many check-ins a Store keeps per device
// unless told otherwise.
const DefaultKeepPerDevice = 50

// Store persists check-ins, device summaries and halts. Implementations are
// safe for concurrent use, and behave alike: the same calls give the same
// results from a Bolt and a Memory store (the package's tests hold every
// implementation to one contract).
//
// Every method returns ctx.Err() if ctx is done before it starts, and
// ErrClosed after Close. Times come back in UTC. Stores copy what they are
// given and what they return: callers may modify both.
type Store interface {
	// Save writes check-ins and device summaries in one transaction: all
	// of them or none. A device summary replaces the MAC's previous one;
	// later entries in devices win over earlier ones. Only the first
	// MaxOutcomes of a Device's Outcomes are kept. After Save each device
	// keeps only its newest check-ins (in History's order), up to the
	// store's limit.
	Save(ctx context.Context, checkins []CheckIn, devices []Device) error
	// LoadDevices returns every device summary, sorted by MAC.
	LoadDevices(ctx context.Context) ([]Device, error)
	// History returns the device's check-ins, newest first (by At, then
	// by order of saving), at most limit of them; limit <= 0 means all that
	// are kept. An unknown MAC has no history, which is not an error.
	History(ctx context.Context, mac rollout.MAC, limit int) ([]CheckIn, error)
	// PutHalt stores h, replacing any halt of the same platform and
	// version. It returns ErrInvalidHalt for a halt without platform or
	// version, or with a kind or stage a Halt cannot have.
	PutHalt(ctx context.Context, h Halt) error
	// DeleteHalt removes the halt of the platform and version. Deleting a
	// halt that does not exist is not an error.
	DeleteHalt(ctx context.Context, platform, version string) error
	// Halts returns every halt, sorted by platform, then version.
	Halts(ctx context.Context) ([]Halt, error)
	// Close releases the store. Calls after the first return nil.
	Close() error
}

// maxHaltKey bounds a halt's platform and version together, far above any
// real name and far below bbolt's key limit (32 KiB).
const maxHaltKey = 1024

func validateHalt(h *Halt) error {
	switch {
	case h.Platform == "":
		return fmt.Errorf("%w: no platform", ErrInvalidHalt)
	case h.Version == "":
		return fmt.Errorf("%w: no version", ErrInvalidHalt)
	case strings.IndexByte(h.Platform, 0) >= 0:
		return fmt.Errorf("%w: platform %q holds a NUL byte", ErrInvalidHalt, h.Platform)
	case len(h.Platform)+len(h.Version) > maxHaltKey:
		return fmt.Errorf("%w: platform and version longer than %d bytes", ErrInvalidHalt, maxHaltKey)
	case h.Kind > CountsReset:
		return fmt.Errorf("%w: unknown kind %d", ErrInvalidHalt, h.Kind)
	case h.Kind == Stopped && h.Stage < -1:
		return fmt.Errorf("%w: stage %d", ErrInvalidHalt, h.Stage)
	case h.Kind == CountsReset && h.Stage != 0:
		return fmt.Errorf("%w: a counts reset has no stage (got %d)", ErrInvalidHalt, h.Stage)
	}
	return nil
}

// batch is a Save's records encoded once, for any Store that keeps bytes.
// Every slice points into one arena, which is never overwritten once
// written: bbolt requires a Put's key and value to stay valid until the
// transaction ends.
type batch struct {
	checkins []encodedCheckIn
	devices  []encodedDevice
	// added counts checkins by MAC, in first-seen order: the devices
	// whose check-ins may need pruning.
	added []macCount
}

type macCount struct {
	mac rollout.MAC
	n   int
}

type encodedCheckIn struct {
	mac   rollout.MAC
	tkey  uint64 // timeKey(At)
	value []byte
}

type encodedDevice struct {
	mac   rollout.MAC
	value []byte
}

// encodeBatch encodes a Save's arguments.
func encodeBatch(checkins []CheckIn, devices []Device) *batch {
	// A record is ~150 bytes; the estimate saves most of the arena's
	// regrowth, and an underestimate costs only a copy.
	arena := make([]byte, 0, 192*len(checkins)+256*len(devices))
	b := &batch{
		checkins: make([]encodedCheckIn, len(checkins)),
		devices:  make([]encodedDevice, len(devices)),
	}
	seen := make(map[rollout.MAC]int, len(checkins)) // index in b.added
	for i := range checkins {
		c := &checkins[i]
		start := len(arena)
		arena = appendCheckIn(arena, c)
		b.checkins[i] = encodedCheckIn{mac: c.MAC, tkey: timeKey(c.At), value: arena[start:len(arena):len(arena)]}
		if j, ok := seen[c.MAC]; ok {
			b.added[j].n++
		} else {
			seen[c.MAC] = len(b.added)
			b.added = append(b.added, macCount{c.MAC, 1})
		}
	}
	for i := range devices {
		d := devices[i] // a copy: truncating Outcomes must not touch the caller's
		if len(d.Outcomes) > MaxOutcomes {
			d.Outcomes = d.Outcomes[:MaxOutcomes]
		}
		start := len(arena)
		arena = appendDevice(arena, &d)
		b.devices[i] = encodedDevice{mac: d.MAC, value: arena[start:len(arena):len(arena)]}
	}
	return b
}
