package checkin

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/otagit/otagit/rollout"
)

// The on-disk record encoding, shared by every Store that keeps bytes.
//
// A record is a format byte followed by its fields in declaration order:
//
//	string     uvarint length, then the bytes
//	int, int64 zig-zag varint
//	time.Time  varint Unix seconds, uvarint nanoseconds (< 1e9)
//	MAC        6 bytes
//	Result     1 byte
//	*Offer     1 byte, 0 (nil) or 1, then the Offer's fields if 1
//	[]Outcome  uvarint count, then each Outcome's fields
//
// Measured against encoding/json (BenchmarkCodec), a typical CheckIn takes
// 164 bytes instead of 349 and encodes 30 times and decodes 17 times
// faster; a Device takes 212 bytes instead of 662. Decoding makes one
// string of the whole record and slices every string field out of it: one
// allocation per check-in instead of one per field.
//
// A new layout gets a new format byte; decoders keep reading the old ones.
// Format 2 appends to a check-in its Mode and Filesystem (two strings),
// and to a device its Filesystem (*FilesystemSent: a flag byte, then
// platform, version, SHA-256 and time). Format 3 appends to a check-in
// its Client (a string). Halts are still written in format 1.

// The record formats: check-ins are written in formatV3, devices in
// formatV2, halts in formatV1; older check-ins and devices are still
// read.
const (
	formatV1 = 1
	formatV2 = 2
	formatV3 = 3
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func appendInt(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

func appendCheckIn(b []byte, c *CheckIn) []byte {
	b = append(b, formatV3)
	b = append(b, c.MAC[:]...)
	b = appendTime(b, c.At)
	b = appendString(b, c.Platform)
	b = appendString(b, c.Version)
	b = appendString(b, c.SketchMD5)
	b = appendInt(b, c.FreeSpace)
	b = appendInt(b, c.ChipSize)
	b = appendString(b, c.SDK)
	b = appendString(b, c.Remote)
	b = appendInt(b, int64(c.Status))
	b = appendString(b, c.Decision)
	b = appendString(b, c.Offered)
	b = appendString(b, c.Reason)
	b = appendString(b, c.Mode)
	b = appendString(b, c.Filesystem)
	return appendString(b, c.Client)
}

func appendDevice(b []byte, d *Device) []byte {
	b = append(b, formatV2)
	b = append(b, d.MAC[:]...)
	b = appendString(b, d.Platform)
	b = appendTime(b, d.FirstSeen)
	b = appendTime(b, d.LastSeen)
	b = appendString(b, d.LastVersion)
	b = appendString(b, d.LastMD5)
	if o := d.Offer; o == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendString(b, o.Platform)
		b = appendString(b, o.Version)
		b = appendString(b, o.MD5)
		b = appendString(b, o.FromVersion)
		b = appendInt(b, int64(o.Stage))
		b = appendTime(b, o.At)
		b = appendInt(b, int64(o.Attempts))
	}
	b = binary.AppendUvarint(b, uint64(len(d.Outcomes)))
	for i := range d.Outcomes {
		o := &d.Outcomes[i]
		b = appendString(b, o.Platform)
		b = appendString(b, o.Version)
		b = appendString(b, o.FromVersion)
		b = appendInt(b, int64(o.Stage))
		b = append(b, byte(o.Result))
		b = appendTime(b, o.At)
	}
	if fs := d.Filesystem; fs == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendString(b, fs.Platform)
		b = appendString(b, fs.Version)
		b = appendString(b, fs.SHA256)
		b = appendTime(b, fs.At)
	}
	return b
}

// resetStage is the stage a halt record has when it stands for a
// CountsReset: the first format had no kind, and old records must read as
// they did (real stages are -1 and up). Writing resets the same way keeps
// the records readable by older versions too.
const resetStage = -2

func appendHalt(b []byte, h *Halt) []byte {
	b = append(b, formatV1)
	b = appendString(b, h.Platform)
	b = appendString(b, h.Version)
	b = appendString(b, h.Fingerprint)
	stage := h.Stage
	if h.Kind == CountsReset {
		stage = resetStage
	}
	b = appendInt(b, int64(stage))
	b = appendInt(b, int64(h.Failed))
	b = appendInt(b, int64(h.Total))
	b = appendString(b, h.Reason)
	return appendTime(b, h.At)
}

// decoder reads one record. The first error sticks: later reads return
// zero values, and finish reports it, so decode functions read straight
// through without checking after every field.
type decoder struct {
	b      []byte
	s      string // s holds b's bytes; string fields are slices of it
	off    int
	err    error
	format byte // the record's format byte
}

// newDecoder returns a decoder of b, having read its format byte, which
// must be one of formats. It returns a value so that the decoder lives on
// the caller's stack.
func newDecoder(b []byte, formats ...byte) decoder {
	d := decoder{b: b, s: string(b)}
	v := d.byte()
	if d.err == nil {
		d.format = v
		known := false
		for _, f := range formats {
			known = known || f == v
		}
		if !known {
			d.fail(fmt.Sprintf("unknown format %d", v))
		}
	}
	return d
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", ErrCorrupt, what, d.off)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || d.off >= len(d.b) {
		d.fail("truncated")
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) int64() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) int() int {
	v := d.int64()
	if int64(int(v)) != v {
		d.fail("int out of range")
		return 0
	}
	return int(v)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail("string runs past the end")
		return ""
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}

func (d *decoder) mac() rollout.MAC {
	var m rollout.MAC
	if d.err != nil || len(d.b)-d.off < len(m) {
		d.fail("truncated")
		return m
	}
	d.off += copy(m[:], d.b[d.off:])
	return m
}

func (d *decoder) time() time.Time {
	sec := d.int64()
	nsec := d.uvarint()
	if d.err != nil {
		return time.Time{}
	}
	if nsec >= 1e9 {
		d.fail("nanoseconds out of range")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// finish returns the first error, or an error if bytes are left over: a
// record is exactly what its fields say.
func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail("trailing bytes")
	}
	return d.err
}

func decodeCheckIn(b []byte) (CheckIn, error) {
	d := newDecoder(b, formatV1, formatV2, formatV3)
	c := CheckIn{
		MAC:       d.mac(),
		At:        d.time(),
		Platform:  d.string(),
		Version:   d.string(),
		SketchMD5: d.string(),
		FreeSpace: d.int64(),
		ChipSize:  d.int64(),
		SDK:       d.string(),
		Remote:    d.string(),
		Status:    d.int(),
		Decision:  d.string(),
		Offered:   d.string(),
		Reason:    d.string(),
	}
	if d.format >= formatV2 {
		c.Mode, c.Filesystem = d.string(), d.string()
	}
	if d.format >= formatV3 {
		c.Client = d.string()
	}
	if err := d.finish(); err != nil {
		return CheckIn{}, fmt.Errorf("check-in: %w", err)
	}
	return c, nil
}

// minOutcomeLen is the fewest bytes an encoded Outcome takes: three empty
// strings, a stage, a result and a time. It bounds the slice a corrupt
// count can make decodeDevice allocate.
const minOutcomeLen = 3 + 1 + 1 + 2

func decodeDevice(b []byte) (Device, error) {
	d := newDecoder(b, formatV1, formatV2)
	v := Device{
		MAC:         d.mac(),
		Platform:    d.string(),
		FirstSeen:   d.time(),
		LastSeen:    d.time(),
		LastVersion: d.string(),
		LastMD5:     d.string(),
	}
	switch d.byte() {
	case 0:
	case 1:
		v.Offer = &Offer{
			Platform:    d.string(),
			Version:     d.string(),
			MD5:         d.string(),
			FromVersion: d.string(),
			Stage:       d.int(),
			At:          d.time(),
			Attempts:    d.int(),
		}
	default:
		d.fail("bad offer flag")
	}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(b)-d.off)/minOutcomeLen {
		d.fail("outcome count runs past the end")
	}
	if d.err == nil && n > 0 {
		v.Outcomes = make([]Outcome, n)
		for i := range v.Outcomes {
			v.Outcomes[i] = Outcome{
				Platform:    d.string(),
				Version:     d.string(),
				FromVersion: d.string(),
				Stage:       d.int(),
				Result:      Result(d.byte()),
				At:          d.time(),
			}
		}
	}
	if d.format >= formatV2 {
		switch d.byte() {
		case 0:
		case 1:
			v.Filesystem = &FilesystemSent{Platform: d.string(), Version: d.string(), SHA256: d.string(), At: d.time()}
		default:
			d.fail("bad filesystem flag")
		}
	}
	if err := d.finish(); err != nil {
		return Device{}, fmt.Errorf("device: %w", err)
	}
	return v, nil
}

func decodeHalt(b []byte) (Halt, error) {
	d := newDecoder(b, formatV1)
	h := Halt{
		Platform:    d.string(),
		Version:     d.string(),
		Fingerprint: d.string(),
		Stage:       d.int(),
		Failed:      d.int(),
		Total:       d.int(),
		Reason:      d.string(),
		At:          d.time(),
	}
	if err := d.finish(); err != nil {
		return Halt{}, fmt.Errorf("halt: %w", err)
	}
	if h.Stage == resetStage {
		h.Kind, h.Stage = CountsReset, 0
	}
	return h, nil
}

// The key of a check-in is MAC (6 bytes) + timeKey(At) (8) + sequence (8),
// all big-endian, so that one device's check-ins are adjacent and in time
// order, and equal times keep the order they were saved in.
const checkinKeyLen = 6 + 8 + 8

// Bounds of the times time.Time.UnixNano can represent.
var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// timeKey maps t to a uint64 that sorts as t does, with the sign bit
// flipped so times before 1970 sort first. Times beyond UnixNano's range
// (before 1678, after 2262) are clamped: they are wrong anyway, and the
// record keeps the exact value.
func timeKey(t time.Time) uint64 {
	switch {
	case t.Before(minNanoTime):
		return 0
	case t.After(maxNanoTime):
		return math.MaxUint64
	}
	return uint64(t.UnixNano()) ^ 1<<63
}

func appendCheckinKey(b []byte, mac rollout.MAC, tkey, seq uint64) []byte {
	b = append(b, mac[:]...)
	b = binary.BigEndian.AppendUint64(b, tkey)
	return binary.BigEndian.AppendUint64(b, seq)
}

// haltKey is platform + NUL + version. Platform names cannot hold a NUL
// (validateHalt checks), so the key is unambiguous and sorts by platform,
// then version.
func haltKey(platform, version string) string { return platform + "\x00" + version }
