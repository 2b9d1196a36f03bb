package checkin

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	checkins := []CheckIn{
		{},
		sampleCheckIn(testMAC(1), 1),
		{MAC: testMAC(3), Mode: "spiffs", Filesystem: "cd", Status: 200},
		{MAC: testMAC(2), At: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), FreeSpace: -1, ChipSize: -1 << 63, Status: -5},
	}
	for _, c := range checkins {
		got, err := decodeCheckIn(appendCheckIn(nil, &c))
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("check-in:\n got %+v, %v\nwant %+v", got, err, c)
		}
	}
	devices := []Device{{}, sampleDevice(testMAC(1), "1.0.0"), {MAC: testMAC(2), Outcomes: manyOutcomes(3)},
		{MAC: testMAC(3), Filesystem: &FilesystemSent{Platform: "lamp", Version: "1.2.0", SHA256: "ab", At: t0}}}
	for _, d := range devices {
		got, err := decodeDevice(appendDevice(nil, &d))
		if err != nil || !reflect.DeepEqual(got, d) {
			t.Errorf("device:\n got %+v, %v\nwant %+v", got, err, d)
		}
	}
	halts := []Halt{{}, {Platform: "p", Version: "1.0.0", Fingerprint: "f", Stage: 2, Failed: 3, Total: 9, Reason: "r", At: t0},
		{Platform: "p", Version: "1.0.0", Kind: CountsReset, Fingerprint: "f", Reason: "resumed", At: t0}}
	for _, h := range halts {
		got, err := decodeHalt(appendHalt(nil, &h))
		if err != nil || !reflect.DeepEqual(got, h) {
			t.Errorf("halt:\n got %+v, %v\nwant %+v", got, err, h)
		}
	}
}

// TestHaltRecordLayout: a counts reset is stored as the first version
// stored an operator's resume, a halt record of stage -2, so records read
// the same both ways across versions.
func TestHaltRecordLayout(t *testing.T) {
	old := func(stage int64) []byte {
		b := []byte{formatV1}
		b = appendString(b, "lamp")
		b = appendString(b, "1.1.0")
		b = appendString(b, "fp")
		b = appendInt(b, stage)
		b = appendInt(b, 0)
		b = appendInt(b, 0)
		b = appendString(b, "resumed by an operator")
		return appendTime(b, t0)
	}
	reset := Halt{Platform: "lamp", Version: "1.1.0", Kind: CountsReset, Fingerprint: "fp", Reason: "resumed by an operator", At: t0}
	if got, want := appendHalt(nil, &reset), old(-2); !bytes.Equal(got, want) {
		t.Errorf("encoded reset:\n got %x\nwant %x", got, want)
	}
	if got, err := decodeHalt(old(-2)); err != nil || !reflect.DeepEqual(got, reset) {
		t.Errorf("stage -2 record: got %+v, %v; want %+v", got, err, reset)
	}
	halt := Halt{Platform: "lamp", Version: "1.1.0", Fingerprint: "fp", Stage: -1, Reason: "resumed by an operator", At: t0}
	if got, err := decodeHalt(old(-1)); err != nil || !reflect.DeepEqual(got, halt) {
		t.Errorf("stage -1 record: got %+v, %v; want %+v", got, err, halt)
	}
}

// TestDecodeCheckInV2: check-ins written before clients were kept (format
// 2, without Client) still read, as check-ins of no named client.
func TestDecodeCheckInV2(t *testing.T) {
	c := sampleCheckIn(testMAC(1), 1)
	c.Client = ""
	b := appendCheckIn(nil, &c)
	b = append([]byte{formatV2}, b[1:len(b)-1]...) // without the empty Client
	got, err := decodeCheckIn(b)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("format 2 check-in: got %+v, %v; want %+v", got, err, c)
	}
}

func TestDecodeCorrupt(t *testing.T) {
	good := appendCheckIn(nil, new(sampleCheckIn(testMAC(1), 1)))
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown format", append([]byte{9}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(good[:len(good):len(good)], 0)},
		{"string past the end", []byte{formatV1, 1, 2, 3, 4, 5, 6, 0, 0, 0xFF}},
		{"nanoseconds out of range", []byte{formatV1, 1, 2, 3, 4, 5, 6, 0, 0x80, 0x94, 0xEB, 0xDC, 0x03}},
		{"overlong varint", append([]byte{formatV1, 1, 2, 3, 4, 5, 6}, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01)},
	}
	for _, tt := range tests {
		if _, err := decodeCheckIn(tt.b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", tt.name, err)
		}
	}
	// A device whose outcome count promises more than the bytes hold must
	// fail before allocating for it.
	d := appendDevice(nil, &Device{})
	d = append(d[:len(d)-1], 0xFF, 0xFF, 0xFF, 0xFF, 0x0F)
	if _, err := decodeDevice(d); !errors.Is(err, ErrCorrupt) {
		t.Errorf("huge outcome count: got %v, want ErrCorrupt", err)
	}
	d = appendDevice(nil, &Device{})
	d[len(d)-3] = 2 // the offer flag, before the outcome count and the filesystem flag
	if _, err := decodeDevice(d); !errors.Is(err, ErrCorrupt) {
		t.Errorf("bad offer flag: got %v, want ErrCorrupt", err)
	}
	d = appendDevice(nil, &Device{})
	d[len(d)-1] = 2 // the filesystem flag
	if _, err := decodeDevice(d); !errors.Is(err, ErrCorrupt) {
		t.Errorf("bad filesystem flag: got %v, want ErrCorrupt", err)
	}
}

// TestDecodeFormatV1 reads records written before format 2: the same
// fields, without the ones format 2 added.
func TestDecodeFormatV1(t *testing.T) {
	c := sampleCheckIn(testMAC(1), 1)
	c.Mode, c.Filesystem, c.Client = "", "", ""
	v3 := appendCheckIn(nil, &c)
	v1 := append([]byte{formatV1}, v3[1:len(v3)-3]...) // without three empty strings
	got, err := decodeCheckIn(v1)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("format 1 check-in:\n got %+v, %v\nwant %+v", got, err, c)
	}
	d := sampleDevice(testMAC(1), "1.0.0")
	d.Filesystem = nil
	v2 := appendDevice(nil, &d)
	v1 = append([]byte{formatV1}, v2[1:len(v2)-1]...) // without the filesystem flag
	gotD, err := decodeDevice(v1)
	if err != nil || !reflect.DeepEqual(gotD, d) {
		t.Errorf("format 1 device:\n got %+v, %v\nwant %+v", gotD, err, d)
	}
	if _, err := decodeHalt(append([]byte{formatV2}, appendHalt(nil, &Halt{Platform: "p", Version: "1"})[1:]...)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("halt in format 2: got %v, want ErrCorrupt (halts are format 1)", err)
	}
}

func TestTimeKeyOrder(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
		minNanoTime,
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 0),
		time.Unix(0, 1),
		t0,
		maxNanoTime,
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for i := 1; i < len(times); i++ {
		a, b := timeKey(times[i-1]), timeKey(times[i])
		if a > b {
			t.Errorf("timeKey(%v) = %#x > timeKey(%v) = %#x", times[i-1], a, times[i], b)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to every record decoder: none may
// panic, and whatever one accepts must survive an encode and decode
// unchanged.
func FuzzDecode(f *testing.F) {
	f.Add(appendCheckIn(nil, new(sampleCheckIn(testMAC(1), 1))))
	f.Add(appendCheckIn(nil, &CheckIn{}))
	f.Add(appendDevice(nil, new(sampleDevice(testMAC(1), "1.0.0"))))
	f.Add(appendDevice(nil, &Device{}))
	f.Add(appendHalt(nil, &Halt{Platform: "p", Version: "1", Reason: "r", At: t0}))
	f.Add([]byte{})
	f.Add([]byte{formatV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := decodeCheckIn(b); err == nil {
			again, err := decodeCheckIn(appendCheckIn(nil, &c))
			if err != nil || !reflect.DeepEqual(again, c) {
				t.Errorf("check-in round trip:\n got %+v, %v\nwant %+v", again, err, c)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("check-in: got %v, want ErrCorrupt", err)
		}
		if d, err := decodeDevice(b); err == nil {
			again, err := decodeDevice(appendDevice(nil, &d))
			if err != nil || !reflect.DeepEqual(again, d) {
				t.Errorf("device round trip:\n got %+v, %v\nwant %+v", again, err, d)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("device: got %v, want ErrCorrupt", err)
		}
		if h, err := decodeHalt(b); err == nil {
			again, err := decodeHalt(appendHalt(nil, &h))
			if err != nil || !reflect.DeepEqual(again, h) {
				t.Errorf("halt round trip:\n got %+v, %v\nwant %+v", again, err, h)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("halt: got %v, want ErrCorrupt", err)
		}
	})
}

// FuzzCheckInRoundTrip builds check-ins from arbitrary field values: every
// one must decode to itself, with At in UTC.
func FuzzCheckInRoundTrip(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6}, int64(1700000000), int64(5), "smart-lamp", "v1.0.0", int64(-1), 304, "up_to_date")
	f.Add([]byte{}, int64(-62135596800), int64(0), "", "", int64(1<<62), -1, "")
	f.Fuzz(func(t *testing.T, mac []byte, sec, nsec int64, platform, version string, free int64, status int, reason string) {
		c := CheckIn{At: time.Unix(sec, nsec).UTC(), Platform: platform, Version: version, FreeSpace: free, ChipSize: -free, Status: status, Reason: reason}
		copy(c.MAC[:], mac)
		got, err := decodeCheckIn(appendCheckIn(nil, &c))
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("got %+v, %v\nwant %+v", got, err, c)
		}
	})
}
