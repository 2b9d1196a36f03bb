package checkin

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/otagit/otagit/rollout"
)

// The journal file (DATA/checkins.journal) is a header page and a ring of
// fixed-size slots, mapped MAP_SHARED: a record copied into it is in the
// kernel's page cache as soon as the copy ends, so it survives the death
// of the process (kill -9, a crash) without a syscall; msync every
// FlushEvery bounds what a power loss takes.
//
//	header  "OTAGITJ1" | slot size u32 | slots u32 | saved u64 | zeros to 4 KiB
//	slot    seq u64 | first slot of a record: body length u32, CRC u32, body...
//	                | continuation slot:      body...
//
// Every slot a record takes carries the record's global sequence number
// for that slot (slot index = seq mod slots), continuations with the top
// bit set, so a slot left from an earlier lap, or a continuation, is never
// read as a record. The CRC (Castagnoli) covers the first slot's seq and
// the body: a record torn by a power loss is recognised. "saved" is the
// seq of the first slot not known to be in the Store; records from there
// on are replayed at start. All integers are little-endian.
//
// A body is a flags byte (1: a check-in follows, 2: a device follows), the
// uvarint length of the check-in's encoding, the check-in and the device
// in the Store encoding (codec.go).
const (
	journalMagic      = "OTAGITJ1"
	journalHeaderSize = 4096
	journalSlotSize   = 256
	// DefaultJournalSlots makes a 32 MiB journal, about 65,000 check-ins
	// with their summaries: at 10,000 check-ins a second, 6 s of a store
	// that does not keep up.
	DefaultJournalSlots = 1 << 17
	// maxJournalSlots bounds a journal's geometry as its header states
	// it, so that a damaged header cannot make Open map a huge file.
	maxJournalSlots = 1 << 24
	// maxJournalBody bounds one record; Add refuses bigger ones (a
	// Device's strings are clipped and its outcomes bounded, so real
	// records take well under 4 KiB).
	maxJournalBody = 1 << 16
	journalCont    = uint64(1) << 63

	// replayBatch and replayTimeout bound one Store call of Replay.
	replayBatch   = 1024
	replayTimeout = time.Minute

	journalHasCheckIn = 1
	journalHasDevice  = 2
)

var journalCRC = crc32.MakeTable(crc32.Castagnoli)

// JournalOptions configure OpenJournal. The zero value gives the defaults.
type JournalOptions struct {
	// Slots is the ring's size in 256-byte slots, for a new file; an
	// existing file keeps the geometry it was made with. Default
	// DefaultJournalSlots.
	Slots int
	// Logger receives the replay's summary and a damaged file being set
	// aside. Default slog.Default().
	Logger *slog.Logger
}

// Journal is the local record of what a Writer acknowledged: Writer.Add
// copies every check-in into it before returning true, and Run advances
// its watermark once the Store has committed them, so that a process
// killed at any moment loses no acknowledged check-in: they are replayed
// into the Store at the next start (Replay, called by NewTracker). One
// process uses a journal at a time (an flock); each replica has its own.
// Make one with OpenJournal; give it to TrackerOptions.Journal.
type Journal struct {
	f     *os.File
	mem   []byte
	slots uint64
	log   *slog.Logger

	saved atomic.Uint64 // mirrors the header's watermark
	// next is the seq of the next slot to write. Only the Writer writes
	// records, under its mutex, and only after Replay.
	next atomic.Uint64
	seq  [8]byte // append's scratch

	syncs atomic.Uint64

	pending []journalRecord // read at open, saved by Replay
	end     uint64          // the seq after them
	damaged int             // records that passed their CRC and did not decode
}

// journalRecord is one record read back from the ring.
type journalRecord struct {
	c CheckIn // zero At: none
	d Device  // zero: none
}

// OpenJournal opens or creates the journal at path and reads the records
// it holds after its watermark, for Replay. A file that is not a journal,
// or whose header is damaged, is renamed to path.damaged-<time> (logged at
// ERROR) and a new one is made: the records it held cannot be read.
func OpenJournal(path string, opts JournalOptions) (*Journal, error) {
	if opts.Slots <= 0 {
		opts.Slots = DefaultJournalSlots
	}
	opts.Slots = min(max(opts.Slots, 16), maxJournalSlots)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	log := opts.Logger.With("component", "checkin", "journal", path)
	for attempt := 0; ; attempt++ {
		j, err := openJournal(path, opts.Slots, log)
		if err == nil || attempt > 0 || !errors.Is(err, ErrCorrupt) {
			return j, err
		}
		aside := path + ".damaged-" + time.Now().UTC().Format("20060102T150405.000Z")
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("%w; setting it aside: %w", err, rerr)
		}
		log.Error("check-in journal damaged: set aside, starting a new one; check-ins it held are not replayed", "set_aside_as", aside, "err", err)
	}
}

func openJournal(path string, slots int, log *slog.Logger) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("checkin: open journal: %w", err)
	}
	j, err := mapJournal(f, slots, log)
	if err != nil {
		f.Close()
		return nil, err
	}
	return j, nil
}

func mapJournal(f *os.File, slots int, log *slog.Logger) (*Journal, error) {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil, fmt.Errorf("checkin: journal %s is in use by another process: %w", f.Name(), err)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("checkin: journal: %w", err)
	}
	size := st.Size()
	if size == 0 {
		hdr := make([]byte, journalHeaderSize)
		copy(hdr, journalMagic)
		binary.LittleEndian.PutUint32(hdr[8:], journalSlotSize)
		binary.LittleEndian.PutUint32(hdr[12:], uint32(slots))
		binary.LittleEndian.PutUint64(hdr[16:], 1)
		size = journalHeaderSize + int64(slots)*journalSlotSize
		if err := f.Truncate(size); err != nil {
			return nil, fmt.Errorf("checkin: create journal: %w", err)
		}
		if _, err := f.WriteAt(hdr, 0); err != nil {
			return nil, fmt.Errorf("checkin: create journal: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("checkin: create journal: %w", err)
		}
	}
	hdr := make([]byte, 24)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("checkin: journal header: %w: %w", ErrCorrupt, err)
	}
	n, err := journalGeometry(hdr, size)
	if err != nil {
		return nil, err
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("checkin: map journal: %w", err)
	}
	j := &Journal{f: f, mem: mem, slots: n, log: log}
	saved := binary.LittleEndian.Uint64(mem[16:])
	j.saved.Store(saved)
	var next uint64
	j.pending, next, j.damaged = scanJournal(mem, n, saved)
	j.next.Store(next)
	j.end = next
	return j, nil
}

// journalGeometry checks a journal's header against its file size and
// returns its number of slots.
func journalGeometry(hdr []byte, size int64) (uint64, error) {
	if len(hdr) < 24 || string(hdr[:8]) != journalMagic {
		return 0, fmt.Errorf("checkin: journal: %w: not a journal", ErrCorrupt)
	}
	ss, n := binary.LittleEndian.Uint32(hdr[8:]), binary.LittleEndian.Uint32(hdr[12:])
	saved := binary.LittleEndian.Uint64(hdr[16:])
	if ss != journalSlotSize || n < 16 || n > maxJournalSlots || saved == 0 || saved&journalCont != 0 ||
		size != journalHeaderSize+int64(n)*journalSlotSize {
		return 0, fmt.Errorf("checkin: journal: %w: header (slot size %d, %d slots, saved %d) does not match its %d bytes", ErrCorrupt, ss, n, saved, size)
	}
	return uint64(n), nil
}

// slot returns the bytes of the slot that seq s goes into.
func journalSlot(mem []byte, slots, s uint64) []byte {
	off := journalHeaderSize + (s%slots)*journalSlotSize
	return mem[off : off+journalSlotSize]
}

// journalSlotsFor is how many slots a body of n bytes takes.
func journalSlotsFor(n int) uint64 {
	const first, cont = journalSlotSize - 16, journalSlotSize - 8
	if n <= first {
		return 1
	}
	return 1 + uint64((n-first+cont-1)/cont)
}

// scanJournal reads the records of mem from seq saved on, up to the first
// slot that does not hold the next record (the end, or a record torn when
// the process died while writing it: records are written one at a time,
// so none follows a torn one). It returns them, the seq after the last,
// and how many records passed their CRC and did not decode, which are
// skipped. mem may hold anything: its memory and time are bounded by its
// size, and it never panics.
func scanJournal(mem []byte, slots, saved uint64) (recs []journalRecord, next uint64, damaged int) {
	s := saved
	body := make([]byte, 0, 1024)
	for s-saved < slots {
		first := journalSlot(mem, slots, s)
		if binary.LittleEndian.Uint64(first) != s {
			break
		}
		n := binary.LittleEndian.Uint32(first[8:])
		k := journalSlotsFor(int(n))
		if n > maxJournalBody || s+k-saved > slots {
			break
		}
		body = body[:0]
		body = append(body, first[16:min(journalSlotSize, 16+int(n))]...)
		ok := true
		for i := uint64(1); i < k && ok; i++ {
			sl := journalSlot(mem, slots, s+i)
			ok = binary.LittleEndian.Uint64(sl) == (s+i)|journalCont
			body = append(body, sl[8:min(journalSlotSize, 8+int(n)-len(body))]...)
		}
		if !ok || journalSum(first[:8], body) != binary.LittleEndian.Uint32(first[12:]) {
			break
		}
		r, err := decodeJournalBody(body)
		if err != nil {
			damaged++
		} else {
			recs = append(recs, r)
		}
		s += k
	}
	return recs, s, damaged
}

func journalSum(seq, body []byte) uint32 {
	return crc32.Update(crc32.Update(0, journalCRC, seq), journalCRC, body)
}

// appendJournalBody encodes a Writer.Add's arguments as a journal body.
func appendJournalBody(b []byte, c *CheckIn, d *Device) []byte {
	var flags byte
	if !c.At.IsZero() {
		flags |= journalHasCheckIn
	}
	if !d.isZero() {
		flags |= journalHasDevice
	}
	b = append(b, flags)
	if flags&journalHasCheckIn != 0 {
		at := len(b)
		b = appendCheckIn(b, c)
		// The length goes before the check-in: encode, then move it.
		n := len(b) - at
		var lb [binary.MaxVarintLen64]byte
		ln := binary.PutUvarint(lb[:], uint64(n))
		b = append(b, lb[:ln]...)
		copy(b[at+ln:], b[at:at+n])
		copy(b[at:], lb[:ln])
	}
	if flags&journalHasDevice != 0 {
		b = appendDevice(b, d)
	}
	return b
}

// decodeJournalBody decodes what appendJournalBody encoded; b may hold
// anything.
func decodeJournalBody(b []byte) (journalRecord, error) {
	var r journalRecord
	if len(b) == 0 || b[0]&^(journalHasCheckIn|journalHasDevice) != 0 || b[0] == 0 {
		return r, fmt.Errorf("checkin: journal record: %w: bad flags", ErrCorrupt)
	}
	flags, rest := b[0], b[1:]
	if flags&journalHasCheckIn != 0 {
		n, ln := binary.Uvarint(rest)
		if ln <= 0 || n > uint64(len(rest)-ln) {
			return r, fmt.Errorf("checkin: journal record: %w: bad check-in length", ErrCorrupt)
		}
		c, err := decodeCheckIn(rest[ln : ln+int(n)])
		if err != nil {
			return r, fmt.Errorf("checkin: journal record: %w: %w", ErrCorrupt, err)
		}
		if c.At.IsZero() {
			return r, fmt.Errorf("checkin: journal record: %w: check-in without a time", ErrCorrupt)
		}
		r.c, rest = c, rest[ln+int(n):]
	}
	if flags&journalHasDevice != 0 {
		d, err := decodeDevice(rest)
		if err != nil {
			return r, fmt.Errorf("checkin: journal record: %w: %w", ErrCorrupt, err)
		}
		r.d, rest = d, nil
	}
	if len(rest) != 0 {
		return r, fmt.Errorf("checkin: journal record: %w: trailing bytes", ErrCorrupt)
	}
	return r, nil
}

// append copies a record's body into the ring and returns the seq after
// it; false when the ring has no room for it until the Store catches up,
// or it is too big. The caller (Writer.Add) serializes calls.
func (j *Journal) append(body []byte) (uint64, bool) {
	k := journalSlotsFor(len(body))
	s := j.next.Load()
	if len(body) > maxJournalBody || s+k-j.saved.Load() > j.slots {
		return 0, false
	}
	rest := body[min(len(body), journalSlotSize-16):]
	for i := uint64(1); i < k; i++ {
		sl := journalSlot(j.mem, j.slots, s+i)
		binary.LittleEndian.PutUint64(sl, (s+i)|journalCont)
		rest = rest[copy(sl[8:], rest):]
	}
	first := journalSlot(j.mem, j.slots, s)
	copy(first[16:], body)
	binary.LittleEndian.PutUint32(first[8:], uint32(len(body)))
	seq := j.seq[:] // not on the stack: crc32 would make it escape
	binary.LittleEndian.PutUint64(seq, s)
	binary.LittleEndian.PutUint32(first[12:], journalSum(seq, body))
	// The seq last: until it is there, the record is not in the journal.
	copy(first, seq)
	j.next.Store(s + k)
	return s + k, true
}

// markSaved records that every record before seq s is in the Store.
func (j *Journal) markSaved(s uint64) {
	if s <= j.saved.Load() {
		return
	}
	j.saved.Store(s)
	binary.LittleEndian.PutUint64(j.mem[16:], s)
}

// sync writes the ring's dirty pages to disk (msync), so that a power
// loss takes at most what was written since. It blocks for the disk; the
// Writer calls it from Run, never from Add.
func (j *Journal) sync() error {
	if err := unix.Msync(j.mem, unix.MS_SYNC); err != nil {
		return fmt.Errorf("checkin: sync journal: %w", err)
	}
	j.syncs.Add(1)
	return nil
}

// JournalStats describe a journal.
type JournalStats struct {
	// Slots is the ring's size; Used counts the slots holding records not
	// yet known to be saved.
	Slots, Used uint64
	// Syncs counts the times the ring was written to disk.
	Syncs uint64
}

// Stats returns the journal's size and use. It is safe to call while a
// Writer uses the journal: Used may be a moment old.
func (j *Journal) Stats() JournalStats {
	next := j.next.Load()
	return JournalStats{Slots: j.slots, Used: next - min(next, j.saved.Load()), Syncs: j.syncs.Load()}
}

// Replay saves into s the records the journal held after its watermark
// when it was opened: the check-ins acknowledged and not yet saved when
// the process last stopped. Records written since the journal was opened
// stay in it. It is idempotent: a check-in already in s
// (the same device, time, address and status: saved, then the process
// died before the watermark moved) is not saved again, and a summary
// older than the one s holds does not replace it, and a check-in the
// journal holds twice is saved once. The Tracker calls it before it reads
// the store (NewTracker, or Run for a Deferred one), so that what it reads
// includes the journal. Calling it again does nothing.
func (j *Journal) Replay(ctx context.Context, s Store) error {
	if len(j.pending) == 0 {
		j.markSaved(j.end)
		j.pending = nil
		return nil
	}
	start := time.Now()
	lctx, cancel := context.WithTimeout(ctx, replayTimeout)
	devices, err := s.LoadDevices(lctx)
	cancel()
	if err != nil {
		return fmt.Errorf("checkin: replay journal: %w", err)
	}
	seen := make(map[rollout.MAC]time.Time, len(devices))
	for _, d := range devices {
		seen[d.MAC] = d.LastSeen
	}
	stored := map[rollout.MAC][]CheckIn{}
	var cs []CheckIn
	var ds []Device
	var dup, old int
	hctx, cancel := context.WithTimeout(ctx, replayTimeout)
	defer cancel()
	for _, r := range j.pending {
		if !r.c.At.IsZero() {
			h, ok := stored[r.c.MAC]
			if !ok {
				if h, err = s.History(hctx, r.c.MAC, 0); err != nil {
					return fmt.Errorf("checkin: replay journal: %w", err)
				}
				stored[r.c.MAC] = h
			}
			if savedAlready(h, &r.c) {
				dup++
			} else {
				cs = append(cs, r.c)
				// A check-in held before a store was read is journaled
				// twice: alone, then with its summary.
				stored[r.c.MAC] = append(h, r.c)
			}
		}
		if !r.d.isZero() {
			if last, ok := seen[r.d.MAC]; ok && last.After(r.d.LastSeen) {
				old++
			} else {
				ds = append(ds, r.d)
				seen[r.d.MAC] = r.d.LastSeen
			}
		}
	}
	nc, nd := len(cs), len(ds)
	// In batches as the Writer saves; the watermark moves only once all
	// are in (a replay cut short is done again, and saves nothing twice).
	for len(cs) > 0 || len(ds) > 0 {
		bc, bd := cs[:min(len(cs), replayBatch)], ds[:min(len(ds), replayBatch)]
		sctx, cancel := context.WithTimeout(ctx, replayTimeout)
		err := s.Save(sctx, bc, bd)
		cancel()
		if err != nil {
			return fmt.Errorf("checkin: replay journal: %w", err)
		}
		cs, ds = cs[len(bc):], ds[len(bd):]
	}
	j.markSaved(j.end)
	if err := j.sync(); err != nil {
		return err
	}
	j.log.Info("check-in journal replayed into the store", "records", len(j.pending), "checkins", nc, "devices", nd,
		"already_saved", dup, "older_summaries", old, "undecodable", j.damaged, "took", time.Since(start))
	j.pending = nil
	return nil
}

// savedAlready reports whether h, a device's stored history, holds c.
func savedAlready(h []CheckIn, c *CheckIn) bool {
	for i := range h {
		if h[i].At.Equal(c.At) && h[i].Remote == c.Remote && h[i].Status == c.Status {
			return true
		}
	}
	return false
}

// Close unmaps and closes the journal, first writing it to disk. The
// Writer using it must have stopped.
func (j *Journal) Close() error {
	if j.mem == nil {
		return nil
	}
	err := j.sync()
	if uerr := unix.Munmap(j.mem); err == nil && uerr != nil {
		err = fmt.Errorf("checkin: unmap journal: %w", uerr)
	}
	j.mem = nil
	if cerr := j.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("checkin: close journal: %w", cerr)
	}
	return err
}
