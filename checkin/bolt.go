package checkin

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"runtime/debug"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/otagit/otagit/rollout"
)

// The bbolt file holds five buckets:
//
//	meta      "schema"                          -> one byte, boltSchema
//	checkins  MAC(6)                            -> uvarint count of the MAC's check-ins
//	          MAC(6) | timeKey(At)(8) | seq(8)  -> CheckIn record
//	devices   MAC(6)                            -> Device record
//	halts     platform | 0x00 | version         -> Halt record
//	adoption  platform                          -> the platform's adoption series, JSON
//
// Keys are big-endian so that bbolt's byte order is the order we want: a
// device's check-ins are adjacent and oldest first, after their count, so
// History is a reverse cursor scan from the end of the MAC's range, and
// pruning reads the count and deletes from the range's start, touching only
// what it changes (walking the range to count it took a quarter of a Save's
// CPU). seq is the bucket's sequence (NextSequence), which keeps check-ins
// with the same At in the order they were saved. Records are encoded as
// described in codec.go.
//
// A batch of check-ins from n devices rewrites about 2n pages (the end of
// each device's range, where new check-ins go, and its start, where old
// ones are pruned) plus the pages of their summaries: a Save's cost is in
// those page writes and the fsync, not in encoding.
var (
	bucketMeta     = []byte("meta")
	bucketCheckins = []byte("checkins")
	bucketDevices  = []byte("devices")
	bucketHalts    = []byte("halts")
	// bucketAdoption came after schema 1 without changing it: a file
	// without it gets it at open, and older versions ignore it.
	bucketAdoption = []byte("adoption")
	keySchema      = []byte("schema")
)

// boltSchema is the layout version above. A file with a newer schema is
// refused rather than misread.
const boltSchema = 1

// Bolt is a Store in a bbolt file, for a single server process (the file
// is locked while open). It is safe for concurrent use: writes are
// serialised, reads run alongside them on a consistent snapshot.
type Bolt struct {
	db   *bbolt.DB
	keep int
}

// BoltOptions configure OpenBolt. The zero value gives the defaults.
type BoltOptions struct {
	// KeepPerDevice is how many check-ins are kept per device; older ones
	// are deleted as new ones are saved. Default DefaultKeepPerDevice.
	KeepPerDevice int
	// Timeout is how long OpenBolt waits for another process to release
	// the file's lock. Default 5s.
	Timeout time.Duration
}

var (
	_ Store         = (*Bolt)(nil)
	_ AdoptionStore = (*Bolt)(nil)
)

// OpenBolt opens the bbolt file at path, creating it (mode 0600: it holds
// device addresses) if it does not exist. It fails if the file is locked by
// another process for longer than opts.Timeout, or was written by a newer
// version of this package.
func OpenBolt(path string, opts BoltOptions) (*Bolt, error) {
	if opts.KeepPerDevice <= 0 {
		opts.KeepPerDevice = DefaultKeepPerDevice
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: opts.Timeout,
		// The hashmap freelist is faster than the array one as the file
		// fragments, and not syncing the freelist saves writing it on
		// every commit, at the price of rebuilding it on open by reading
		// the whole file; etcd runs bbolt this way.
		FreelistType:   bbolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		return nil, openError(path, opts.Timeout, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketCheckins, bucketDevices, bucketHalts, bucketAdoption} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keySchema); {
		case v == nil:
			return meta.Put(keySchema, []byte{boltSchema})
		case len(v) != 1:
			return fmt.Errorf("schema %x: %w", v, ErrCorrupt)
		case v[0] > boltSchema:
			return fmt.Errorf("schema %d is newer than this version understands (%d)", v[0], boltSchema)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("checkin: open %s: %w", path, err)
	}
	return &Bolt{db: db, keep: opts.KeepPerDevice}, nil
}

// Close closes the file, waiting for transactions in progress.
func (s *Bolt) Close() error { return s.db.Close() }

// update and view run fn in a transaction after checking ctx, and report a
// closed database as ErrClosed.
func (s *Bolt) update(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return boltErr(s.db.Update(fn))
}

func (s *Bolt) view(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return boltErr(s.db.View(fn))
}

func boltErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Save implements Store.
func (s *Bolt) Save(ctx context.Context, checkins []CheckIn, devices []Device) error {
	b := encodeBatch(checkins, devices)
	keys := make([]byte, 0, checkinKeyLen*len(b.checkins))
	return s.update(ctx, func(tx *bbolt.Tx) error {
		cb := tx.Bucket(bucketCheckins)
		for _, c := range b.checkins {
			seq, err := cb.NextSequence()
			if err != nil {
				return err
			}
			start := len(keys)
			keys = appendCheckinKey(keys, c.mac, c.tkey, seq)
			if err := cb.Put(keys[start:len(keys):len(keys)], c.value); err != nil {
				return err
			}
		}
		for _, a := range b.added {
			if err := prune(cb, a.mac, a.n, s.keep); err != nil {
				return err
			}
		}
		devs := tx.Bucket(bucketDevices)
		for _, d := range b.devices {
			if err := devs.Put(bytes.Clone(d.mac[:]), d.value); err != nil {
				return err
			}
		}
		return nil
	})
}

// lastOf positions c on the newest check-in of mac and returns it, or a
// nil key if mac has none.
func lastOf(c *bbolt.Cursor, mac rollout.MAC) (k, v []byte) {
	// Every key of mac is at most mac + 16 x 0xFF.
	var upper [checkinKeyLen]byte
	copy(upper[:], mac[:])
	for i := len(mac); i < len(upper); i++ {
		upper[i] = 0xFF
	}
	k, v = c.Seek(upper[:])
	switch {
	case k == nil:
		k, v = c.Last()
	case !bytes.Equal(k, upper[:]):
		k, v = c.Prev()
	}
	if !isCheckinOf(k, mac) {
		return nil, nil
	}
	return k, v
}

// prune adds added to mac's check-in count and deletes its oldest
// check-ins beyond keep.
func prune(b *bbolt.Bucket, mac rollout.MAC, added, keep int) error {
	c := b.Cursor()
	k, v := c.Seek(mac[:])
	count := 0
	if bytes.Equal(k, mac[:]) {
		n, size := binary.Uvarint(v)
		if size <= 0 || n > math.MaxInt32 {
			return fmt.Errorf("checkin: check-in count of %s: %w", mac, ErrCorrupt)
		}
		count = int(n)
		k, _ = c.Next()
	}
	n := count + added
	// Collect, then delete: deleting under a moving cursor can skip keys.
	var old [][]byte
	for ; n > keep && isCheckinOf(k, mac); k, _ = c.Next() {
		old = append(old, bytes.Clone(k))
		n--
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	if n == count {
		return nil // the usual case once a device has keep check-ins
	}
	return b.Put(bytes.Clone(mac[:]), binary.AppendUvarint(nil, uint64(n)))
}

// isCheckinOf reports whether k is the key of one of mac's check-ins (not
// its count, nor another device's).
func isCheckinOf(k []byte, mac rollout.MAC) bool {
	return len(k) == checkinKeyLen && bytes.HasPrefix(k, mac[:])
}

// LoadDevices implements Store.
func (s *Bolt) LoadDevices(ctx context.Context) ([]Device, error) {
	var out []Device
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketDevices).ForEach(func(k, v []byte) error {
			d, err := decodeDevice(v)
			if err != nil {
				return fmt.Errorf("checkin: device %x: %w", k, err)
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// History implements Store.
func (s *Bolt) History(ctx context.Context, mac rollout.MAC, limit int) ([]CheckIn, error) {
	var out []CheckIn
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		n := s.keep // the most there usually are
		if limit > 0 {
			n = min(n, limit)
		}
		c := tx.Bucket(bucketCheckins).Cursor()
		for k, v := lastOf(c, mac); isCheckinOf(k, mac); k, v = c.Prev() {
			if limit > 0 && len(out) == limit {
				break
			}
			ci, err := decodeCheckIn(v)
			if err != nil {
				return fmt.Errorf("checkin: check-in %x: %w", k, err)
			}
			if out == nil {
				out = make([]CheckIn, 0, n)
			}
			out = append(out, ci)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PutHalt implements Store.
func (s *Bolt) PutHalt(ctx context.Context, h Halt) error {
	if err := validateHalt(&h); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketHalts).Put([]byte(haltKey(h.Platform, h.Version)), appendHalt(nil, &h))
	})
}

// DeleteHalt implements Store.
func (s *Bolt) DeleteHalt(ctx context.Context, platform, version string) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketHalts).Delete([]byte(haltKey(platform, version)))
	})
}

// Halts implements Store.
func (s *Bolt) Halts(ctx context.Context) ([]Halt, error) {
	var out []Halt
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketHalts).ForEach(func(k, v []byte) error {
			h, err := decodeHalt(v)
			if err != nil {
				return fmt.Errorf("checkin: halt %q: %w", k, err)
			}
			out = append(out, h)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SaveAdoption implements AdoptionStore.
func (s *Bolt) SaveAdoption(ctx context.Context, platform string, samples []AdoptionSample) error {
	v, err := encodeAdoption(platform, samples)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketAdoption).Put([]byte(platform), v)
	})
}

// LoadAdoption implements AdoptionStore.
func (s *Bolt) LoadAdoption(ctx context.Context) (map[string][]AdoptionSample, error) {
	out := map[string][]AdoptionSample{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketAdoption).ForEach(func(k, v []byte) error {
			samples, err := decodeAdoption(k, v)
			if err != nil {
				return err
			}
			out[string(k)] = samples
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OpenBoltChecked is OpenBolt after a read of every page of the file, so
// that a damaged file is found, and reported as ErrCorrupt, rather than
// crashing the process: bbolt panics on a damaged page, and when it
// rebuilds the free list at open (NoFreelistSync) it does so in a
// goroutine of its own, where no recover can catch it. The read runs in a
// read-only open that does not rebuild the free list, in this goroutine,
// with faults on the mapped file turned into panics. A file locked by
// another process or that cannot be read is not damage. The read costs
// about what bbolt's own rebuild of the free list costs at open.
func OpenBoltChecked(path string, opts BoltOptions) (s *Bolt, err error) {
	if err := checkBoltFile(path, opts); err != nil {
		return nil, err
	}
	// The rebuild checks what the read does not (key order, page types)
	// and panics here, where it can be caught, on what it finds.
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("checkin: open %s: %w: bbolt panicked opening it: %v", path, ErrCorrupt, p)
		}
	}()
	return OpenBolt(path, opts)
}

// checkBoltFile reads every page of the bbolt file at path, if there is one.
func checkBoltFile(path string, opts BoltOptions) (err error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("checkin: check %s: %w: bbolt panicked reading it: %v", path, ErrCorrupt, p)
		}
	}()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: opts.Timeout})
	if err != nil {
		return openError(path, opts.Timeout, err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bbolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error { return nil })
		})
	})
	if err != nil {
		return fmt.Errorf("checkin: check %s: %w: %w", path, ErrCorrupt, err)
	}
	return nil
}

// openError says why bbolt.Open failed on path: the file is locked by
// another process (for timeout), damaged (ErrCorrupt), or else.
func openError(path string, timeout time.Duration, err error) error {
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("checkin: open %s: locked by another process for %v: %w", path, timeout, err)
	}
	for _, damage := range [...]error{berrors.ErrInvalid, berrors.ErrInvalidMapping, berrors.ErrVersionMismatch, berrors.ErrChecksum} {
		if errors.Is(err, damage) {
			return fmt.Errorf("checkin: open %s: %w: %w", path, ErrCorrupt, err)
		}
	}
	return fmt.Errorf("checkin: open %s: %w", path, err)
}
