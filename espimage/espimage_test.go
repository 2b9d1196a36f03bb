package espimage

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// checkImageStructure walks the segments of a whole uncompressed image the
// way esptool's LoadFirmwareImage does and verifies the XOR checksum and,
// when the header says so, the appended SHA-256.
func checkImageStructure(t *testing.T, img []byte, esp32 bool) {
	t.Helper()
	pos := esp8266HeaderLen
	if esp32 {
		pos = esp32HeaderLen
	}
	checksum := byte(0xEF)
	for i := 0; i < int(img[1]); i++ {
		if pos+8 > len(img) {
			t.Fatalf("segment %d header at %d beyond image end %d", i, pos, len(img))
		}
		n := int(binary.LittleEndian.Uint32(img[pos+4:]))
		pos += 8
		if pos+n > len(img) {
			t.Fatalf("segment %d data %d+%d beyond image end %d", i, pos, n, len(img))
		}
		if n%4 != 0 {
			t.Errorf("segment %d length %d not a multiple of 4", i, n)
		}
		for _, b := range img[pos : pos+n] {
			checksum ^= b
		}
		pos += n
	}
	pos = roundUp(pos+1, 16) // checksum is the last byte of the 16-byte block
	if pos > len(img) {
		t.Fatalf("checksum at %d beyond image end %d", pos-1, len(img))
	}
	if got := img[pos-1]; got != checksum {
		t.Errorf("checksum: got %#02x, want %#02x", got, checksum)
	}
	if esp32 && img[23] == 1 {
		if pos+32 > len(img) {
			t.Fatalf("digest at %d beyond image end %d", pos, len(img))
		}
		if got, want := img[pos:pos+32], sha256.Sum256(img[:pos]); !bytes.Equal(got, want[:]) {
			t.Errorf("appended digest: got %x, want %x", got, want)
		}
		pos += 32
	}
	for i, b := range img[pos:] {
		if b != 0xFF {
			t.Fatalf("trailing byte %d is %#02x, want 0xff", pos+i, b)
		}
	}
	if len(img)-pos >= 16 {
		t.Errorf("%d trailing padding bytes, want fewer than 16", len(img)-pos)
	}
}

func TestBuildParseRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		opts      BuildOptions
		wantFlash int64
		wantID    uint16
		wantApp   bool
	}{
		{
			name:      "esp8266 default",
			opts:      BuildOptions{Chip: ESP8266, ProjectName: "garage-door", Version: "1.2.3", Size: 4096},
			wantFlash: 4 << 20,
		},
		{
			name:      "esp8266 1MiB flash odd size",
			opts:      BuildOptions{Chip: ESP8266, ProjectName: "Sonoff", Version: "10.0.17", Size: 300001, FlashSize: 1 << 20},
			wantFlash: 1 << 20,
		},
		{
			name:      "esp8266 512KiB flash",
			opts:      BuildOptions{Chip: ESP8266, ProjectName: "esp01", Version: "0.0.1", FlashSize: 512 << 10},
			wantFlash: 512 << 10,
		},
		{
			name:      "esp32 default",
			opts:      BuildOptions{Chip: ESP32, ProjectName: "weather-station", Version: "2.0.0", Size: 65536},
			wantFlash: 4 << 20,
			wantID:    0,
			wantApp:   true,
		},
		{
			name:      "esp32s3 16MiB with date",
			opts:      BuildOptions{Chip: ESP32S3, ProjectName: "cam", Version: "3.1.4", Size: 200000, FlashSize: 16 << 20, Date: "Mar 14 2025", Time: "15:09:26"},
			wantFlash: 16 << 20,
			wantID:    9,
			wantApp:   true,
		},
		{
			name:      "esp32c3 2MiB minimal size",
			opts:      BuildOptions{Chip: ESP32C3, ProjectName: "thermo", Version: "0.9.12", FlashSize: 2 << 20},
			wantFlash: 2 << 20,
			wantID:    5,
			wantApp:   true,
		},
		{
			name:      "esp32c6 no descriptor",
			opts:      BuildOptions{Chip: ESP32C6, ProjectName: "zigbee-bridge", Version: "1.0.0", Size: 8192, NoDescriptor: true},
			wantFlash: 4 << 20,
			wantID:    13,
		},
		{
			name:      "esp32c6 128MiB",
			opts:      BuildOptions{Chip: ESP32C6, ProjectName: "big", Version: "4.5.6", Size: 1000, FlashSize: 128 << 20},
			wantFlash: 128 << 20,
			wantID:    13,
			wantApp:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Build(tt.opts)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if tt.opts.Size != 0 && len(img) != tt.opts.Size {
				t.Errorf("len: got %d, want %d", len(img), tt.opts.Size)
			}
			again, err := Build(tt.opts)
			if err != nil || !bytes.Equal(img, again) {
				t.Errorf("Build is not deterministic (err %v)", err)
			}
			esp32 := tt.opts.Chip != ESP8266
			checkImageStructure(t, img, esp32)

			info, err := Parse(img[:min(len(img), HeaderLen)])
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got, want := info.Chip, tt.opts.Chip; got != want {
				t.Errorf("Chip: got %q, want %q", got, want)
			}
			if got, want := info.FlashSize, tt.wantFlash; got != want {
				t.Errorf("FlashSize: got %d, want %d", got, want)
			}
			if got, want := info.SegmentCount, 2; got != want {
				t.Errorf("SegmentCount: got %d, want %d", got, want)
			}
			if got, want := info.ChipID, tt.wantID; got != want {
				t.Errorf("ChipID: got %d, want %d", got, want)
			}
			if got, want := info.HashAppended, esp32; got != want {
				t.Errorf("HashAppended: got %v, want %v", got, want)
			}
			if got, want := info.FlashMode, byte(2); got != want {
				t.Errorf("FlashMode: got %d, want %d", got, want)
			}
			if info.Compressed || info.AppInvalid {
				t.Errorf("Compressed %v AppInvalid %v, want both false", info.Compressed, info.AppInvalid)
			}
			if !tt.wantApp {
				if info.App != nil {
					t.Errorf("App: got %+v, want nil", info.App)
				}
			} else {
				if info.App == nil {
					t.Fatal("App: got nil, want descriptor")
				}
				wantDate, wantTime := tt.opts.Date, tt.opts.Time
				if wantDate == "" {
					wantDate = DefaultBuildDate
				}
				if wantTime == "" {
					wantTime = DefaultBuildTime
				}
				got := *info.App
				got.ELFSHA256 = [32]byte{}
				want := AppDescriptor{
					Version:          tt.opts.Version,
					ProjectName:      tt.opts.ProjectName,
					Time:             wantTime,
					Date:             wantDate,
					IDFVersion:       DefaultBuildIDFVersion,
					MaxEfuseBlockRev: 0xFFFF,
					MMUPageSize:      64 << 10,
				}
				if got != want {
					t.Errorf("App: got %+v, want %+v", got, want)
				}
				if info.App.ELFSHA256 == [32]byte{} {
					t.Error("App.ELFSHA256 is all zero")
				}
			}

			m, err := ScanSeedConvention(bytes.NewReader(img), strings.ToUpper(tt.opts.ProjectName))
			if err != nil {
				t.Fatalf("ScanSeedConvention: %v", err)
			}
			if want := (SeedMatch{PlatformFound: true, Version: tt.opts.Version}); m != want {
				t.Errorf("ScanSeedConvention: got %+v, want %+v", m, want)
			}
		})
	}
}

func TestBuildEveryKnownChip(t *testing.T) {
	for _, chip := range KnownChips() {
		t.Run(string(chip), func(t *testing.T) {
			img, err := Build(BuildOptions{Chip: chip, ProjectName: "p", Version: "1.0.0"})
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			checkImageStructure(t, img, chip.ESP32Family())
			info, err := Parse(img)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got, want := info.Chip, chip; got != want {
				t.Errorf("Chip: got %q, want %q", got, want)
			}
			if got, want := info.App != nil, chip.ESP32Family(); got != want {
				t.Errorf("has App: got %v, want %v", got, want)
			}
			// The device-side OTA checks: magic byte and a flash size code the
			// chip understands.
			if img[0] != 0xE9 {
				t.Errorf("first byte: got %#02x, want 0xe9", img[0])
			}
			if info.FlashSize == 0 {
				t.Errorf("flash size code %d maps to no size", info.FlashSizeCode)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		opts BuildOptions
	}{
		{"no chip", BuildOptions{ProjectName: "x", Version: "1.0.0"}},
		{"unknown chip", BuildOptions{Chip: "esp31", Version: "1.0.0"}},
		{"esp32 flash size not encodable", BuildOptions{Chip: ESP32, FlashSize: 3 << 20}},
		{"esp32 256KiB flash", BuildOptions{Chip: ESP32, FlashSize: 256 << 10}},
		{"esp8266 32MiB flash", BuildOptions{Chip: ESP8266, FlashSize: 32 << 20}},
		{"size too small", BuildOptions{Chip: ESP32, Version: "1.0.0", Size: 200}},
		{"esp8266 size too small", BuildOptions{Chip: ESP8266, Size: 40}},
		{"negative size", BuildOptions{Chip: ESP32, Size: -1}},
		{"size beyond 16MiB segment", BuildOptions{Chip: ESP32, Size: 17 << 20}},
		{"version too long for descriptor", BuildOptions{Chip: ESP32S3, Version: strings.Repeat("9", 33)}},
		{"project name not printable", BuildOptions{Chip: ESP32C3, ProjectName: "bad\x01name"}},
		{"date too long", BuildOptions{Chip: ESP32C3, Date: "Wednesday 1 January 2025"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Build(tt.opts)
			if err == nil {
				t.Fatalf("Build: got %d bytes and no error, want an error", len(img))
			}
			if !errors.Is(err, errBuild) {
				t.Errorf("error %v does not wrap errBuild", err)
			}
		})
	}
}

func TestBuildLongVersionWithoutDescriptor(t *testing.T) {
	// Without a descriptor the field limits do not apply.
	img, err := Build(BuildOptions{Chip: ESP32, NoDescriptor: true, ProjectName: strings.Repeat("p", 40), Version: "1.2.3"})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if _, err := Parse(img); err != nil {
		t.Fatalf("Parse: %v", err)
	}
}

func TestBuildSizes(t *testing.T) {
	for _, chip := range []Chip{ESP8266, ESP32} {
		minImg, err := Build(BuildOptions{Chip: chip, Version: "1.0.0"})
		if err != nil {
			t.Fatalf("Build %s: %v", chip, err)
		}
		for size := len(minImg); size < len(minImg)+40; size++ {
			img, err := Build(BuildOptions{Chip: chip, Version: "1.0.0", Size: size})
			if err != nil {
				t.Fatalf("Build %s size %d: %v", chip, size, err)
			}
			if got, want := len(img), size; got != want {
				t.Fatalf("Build %s: got %d bytes, want %d", chip, got, want)
			}
			checkImageStructure(t, img, chip == ESP32)
		}
		if _, err := Build(BuildOptions{Chip: chip, Version: "1.0.0", Size: len(minImg) - 1}); err == nil {
			t.Errorf("Build %s with size %d below minimum %d: got no error", chip, len(minImg)-1, len(minImg))
		}
	}
}

// esp32Header returns a 24-byte ESP32-family header: 2 segments, DIO, 4 MiB,
// entry in ESP32 IRAM, WP pin disabled, the given chip id, hash appended.
func esp32Header(chipID uint16) []byte {
	h := []byte{0xE9, 2, 2, 0x20, 0x04, 0x00, 0x08, 0x40, 0xEE, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0, 1}
	binary.LittleEndian.PutUint16(h[12:], chipID)
	return h
}

// withFirstSegment appends a first segment header of length n at addr and
// the data to h.
func withFirstSegment(h []byte, addr uint32, n int, data []byte) []byte {
	out := append([]byte(nil), h...)
	out = binary.LittleEndian.AppendUint32(out, addr)
	out = binary.LittleEndian.AppendUint32(out, uint32(n))
	return append(out, data...)
}

// descriptor returns a 256-byte app descriptor with the given text fields.
func descriptor(version, project, tim, date, idf string) []byte {
	d := make([]byte, 256)
	binary.LittleEndian.PutUint32(d, appDescMagic)
	binary.LittleEndian.PutUint32(d[4:], 7)
	copy(d[16:48], version)
	copy(d[48:80], project)
	copy(d[80:96], tim)
	copy(d[96:112], date)
	copy(d[112:144], idf)
	for i := range 32 {
		d[144+i] = byte(i)
	}
	binary.LittleEndian.PutUint16(d[176:], 101)
	binary.LittleEndian.PutUint16(d[178:], 199)
	d[180] = 15
	return d
}

func TestParse(t *testing.T) {
	arduinoESP8266 := []byte{
		0xE9, 0x02, 0x00, 0x40, // magic, 2 segments, QIO, 4 MiB 40 MHz
		0x00, 0xF0, 0x10, 0x40, // entry 0x4010F000 (eboot)
		0x00, 0xF0, 0x10, 0x40, // segment at 0x4010F000
		0x50, 0x05, 0x00, 0x00, // length 0x550
		0x0F, 0xAE, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, // code
	}
	// An ESP8266 image whose first 24 bytes also pass esptool's ESP32
	// auto-detection: segment length 0x20000 puts 0x0000 (ESP32) where the
	// chip id would be, and its first data bytes are zero.
	esp8266LooksESP32 := []byte{
		0xE9, 0x03, 0x02, 0x2F,
		0x04, 0x00, 0x10, 0x40, // entry 0x40100004
		0x10, 0x10, 0x20, 0x40, // segment at 0x40201010 (IROM)
		0x00, 0x00, 0x02, 0x00, // length 0x20000
		0, 0, 0, 0, 0, 0, 0, 0,
	}
	// ESP8266 image whose entry point is outside IRAM but whose segment
	// address is ESP8266 DRAM and whose bytes 19..23 rule out ESP32.
	esp8266SegOnly := []byte{
		0xE9, 0x01, 0x03, 0x90,
		0x00, 0x00, 0x00, 0x00,
		0x00, 0x80, 0xFE, 0x3F, // DRAM 0x3FFE8000
		0x10, 0x00, 0x00, 0x00,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	}
	desc := descriptor("v1.0.0-rc1", "light-switch", "12:34:56", "Feb  2 2024", "v5.1.2-dirty")
	validESP32 := withFirstSegment(esp32Header(9), 0x3C000020, 1024, desc)

	garbled := bytes.Clone(validESP32)
	garbled[32+48+3] = 0x07 // BEL inside the project name
	badUTF8 := bytes.Clone(validESP32)
	badUTF8[32+16] = 0xC3 // truncated two-byte sequence at the start of version
	badUTF8[32+17] = 'x'
	fullField := bytes.Clone(validESP32)
	copy(fullField[32+16:32+48], strings.Repeat("7", 32)) // no NUL terminator
	shortSeg := withFirstSegment(esp32Header(9), 0x3C000020, 128, desc)
	noMagic := withFirstSegment(esp32Header(5), 0x3C000020, 1024, make([]byte, 256))
	reservedNonZero := withFirstSegment(esp32Header(13), 0x42000020, 1024, desc)
	reservedNonZero[20] = 0x42
	oldIDF := withFirstSegment(esp32Header(0), 0x3F400020, 1024, nil)
	oldIDF[14], oldIDF[15], oldIDF[16], oldIDF[17], oldIDF[18] = 3, 0, 0, 0, 0
	segCount0 := bytes.Clone(validESP32)
	segCount0[1] = 0
	segCount17 := bytes.Clone(arduinoESP8266)
	segCount17[1] = 17
	unknownID := withFirstSegment(esp32Header(0x63), 0x3C000020, 1024, desc)
	// Magic byte right, everything else random-looking.
	junk := []byte{0xE9, 0x05, 0x02, 0x20, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC}

	wantDesc := &AppDescriptor{
		SecureVersion:    7,
		Version:          "v1.0.0-rc1",
		ProjectName:      "light-switch",
		Time:             "12:34:56",
		Date:             "Feb  2 2024",
		IDFVersion:       "v5.1.2-dirty",
		MinEfuseBlockRev: 101,
		MaxEfuseBlockRev: 199,
		MMUPageSize:      32 << 10,
	}
	for i := range 32 {
		wantDesc.ELFSHA256[i] = byte(i)
	}
	wantFull := *wantDesc
	wantFull.Version = strings.Repeat("7", 32)

	esp32S3Info := Info{
		Chip: ESP32S3, SegmentCount: 2, FlashMode: 2, FlashSizeCode: 2, FlashSize: 4 << 20,
		EntryPoint: 0x40080004, ChipID: 9, MaxChipRev: 0xFFFF, HashAppended: true,
	}
	withApp := func(i Info, app *AppDescriptor) Info { i.App = app; return i }

	tests := []struct {
		name    string
		in      []byte
		want    Info
		wantErr error
	}{
		{name: "nil", in: nil, wantErr: ErrEmpty},
		{name: "empty", in: []byte{}, wantErr: ErrEmpty},
		{name: "magic only", in: []byte{0xE9}, wantErr: ErrTooShort},
		{name: "8 byte header only", in: arduinoESP8266[:8], wantErr: ErrTooShort},
		{name: "23 bytes", in: validESP32[:23], wantErr: ErrTooShort},
		{name: "ELF file", in: []byte("\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), wantErr: ErrBadMagic},
		{name: "zero byte", in: make([]byte, 64), wantErr: ErrBadMagic},
		{name: "ESP8266 v2 OTA magic 0xEA", in: append([]byte{0xEA}, arduinoESP8266[1:]...), wantErr: ErrBadMagic},
		{name: "gzip", in: []byte{0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0, 3}, want: Info{Compressed: true}},
		{name: "gzip magic only", in: []byte{0x1F, 0x8B}, want: Info{Compressed: true}},
		{name: "zlib", in: []byte{0x78, 0xDA, 0xED}, want: Info{Compressed: true}},
		{name: "gzip first byte only", in: []byte{0x1F}, wantErr: ErrTooShort},
		{name: "0x1F without gzip second byte", in: []byte{0x1F, 0x00, 0x08}, wantErr: ErrBadMagic},
		{
			name: "arduino esp8266 eboot header",
			in:   arduinoESP8266,
			want: Info{Chip: ESP8266, SegmentCount: 2, FlashMode: 0, FlashSizeCode: 4, FlashSize: 4 << 20, EntryPoint: 0x4010F000},
		},
		{
			name: "esp8266 that fools esptool's ESP32 detection",
			in:   esp8266LooksESP32,
			want: Info{Chip: ESP8266, SegmentCount: 3, FlashMode: 2, FlashSizeCode: 2, FlashFreqCode: 0xF, FlashSize: 1 << 20, EntryPoint: 0x40100004},
		},
		{
			name: "esp8266 by segment address only",
			in:   esp8266SegOnly,
			want: Info{Chip: ESP8266, SegmentCount: 1, FlashMode: 3, FlashSizeCode: 9, FlashSize: 16 << 20},
		},
		{name: "esp32s3 with descriptor", in: validESP32, want: withApp(esp32S3Info, wantDesc)},
		{name: "longer than HeaderLen", in: append(bytes.Clone(validESP32), make([]byte, 4096)...), want: withApp(esp32S3Info, wantDesc)},
		{name: "descriptor cut off by short prefix", in: validESP32[:200], want: esp32S3Info},
		{name: "descriptor absent", in: noMagic, want: Info{
			Chip: ESP32C3, SegmentCount: 2, FlashMode: 2, FlashSizeCode: 2, FlashSize: 4 << 20,
			EntryPoint: 0x40080004, ChipID: 5, MaxChipRev: 0xFFFF, HashAppended: true,
		}},
		{name: "descriptor with control character", in: garbled, want: func() Info { i := esp32S3Info; i.AppInvalid = true; return i }()},
		{name: "descriptor with invalid UTF-8", in: badUTF8, want: func() Info { i := esp32S3Info; i.AppInvalid = true; return i }()},
		{name: "descriptor field without NUL", in: fullField, want: withApp(esp32S3Info, &wantFull)},
		{name: "first segment shorter than descriptor", in: shortSeg, want: esp32S3Info},
		{name: "esp32c6 with nonzero reserved bytes", in: reservedNonZero, want: Info{
			Chip: ESP32C6, SegmentCount: 2, FlashMode: 2, FlashSizeCode: 2, FlashSize: 4 << 20,
			EntryPoint: 0x40080004, ChipID: 13, MaxChipRev: 0xFFFF, HashAppended: true, App: wantDesc,
		}},
		{name: "esp32 pre-IDF-5 header", in: oldIDF, want: Info{
			Chip: ESP32, SegmentCount: 2, FlashMode: 2, FlashSizeCode: 2, FlashSize: 4 << 20,
			EntryPoint: 0x40080004, MinChipRevLegacy: 3, HashAppended: true,
		}},
		{name: "unknown chip id", in: unknownID, wantErr: ErrUnknownChipID, want: Info{
			SegmentCount: 2, FlashMode: 2, FlashSizeCode: 2, FlashSize: 4 << 20,
			EntryPoint: 0x40080004, ChipID: 0x63, MaxChipRev: 0xFFFF, HashAppended: true, App: wantDesc,
		}},
		{name: "unknown layout", in: junk, wantErr: ErrUnknownLayout, want: Info{
			SegmentCount: 5, FlashMode: 2, FlashSizeCode: 2, EntryPoint: 0x78563412,
		}},
		{name: "zero segments", in: segCount0, wantErr: ErrBadSegmentCount, want: withApp(func() Info { i := esp32S3Info; i.SegmentCount = 0; return i }(), wantDesc)},
		{name: "17 segments", in: segCount17, wantErr: ErrBadSegmentCount, want: Info{
			Chip: ESP8266, SegmentCount: 17, FlashSizeCode: 4, FlashSize: 4 << 20, EntryPoint: 0x4010F000,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Parse: got error %v, want none", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse: got error %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse:\n got %+v app %+v\nwant %+v app %+v", got, got.App, tt.want, tt.want.App)
			}
		})
	}
}

func TestParseReader(t *testing.T) {
	img, err := Build(BuildOptions{Chip: ESP32H2, ProjectName: "thread-node", Version: "5.6.7", Size: 10000})
	if err != nil {
		t.Fatal(err)
	}
	want, err := Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseReader(iotest.OneByteReader(bytes.NewReader(img)))
	if err != nil {
		t.Fatalf("ParseReader: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseReader: got %+v, want %+v", got, want)
	}
	if _, err := ParseReader(bytes.NewReader(img[:10])); !errors.Is(err, ErrTooShort) {
		t.Errorf("ParseReader of 10 bytes: got %v, want ErrTooShort", err)
	}
	readErr := errors.New("disk on fire")
	if _, err := ParseReader(iotest.ErrReader(readErr)); !errors.Is(err, readErr) {
		t.Errorf("ParseReader of failing reader: got %v, want %v", err, readErr)
	}
}

func TestFlashSizeTables(t *testing.T) {
	const k, m = 1 << 10, 1 << 20
	esp8266 := map[byte]int64{0: 512 * k, 1: 256 * k, 2: 1 * m, 3: 2 * m, 4: 4 * m, 5: 2 * m, 6: 4 * m, 8: 8 * m, 9: 16 * m}
	esp32 := map[byte]int64{0: 1 * m, 1: 2 * m, 2: 4 * m, 3: 8 * m, 4: 16 * m, 5: 32 * m, 6: 64 * m, 7: 128 * m}
	for code := byte(0); code < 16; code++ {
		if got, want := esp8266FlashSize(code), esp8266[code]; got != want {
			t.Errorf("esp8266 code %d: got %d, want %d", code, got, want)
		}
		if got, want := esp32FlashSize(code), esp32[code]; got != want {
			t.Errorf("esp32 code %d: got %d, want %d", code, got, want)
		}
	}
}

func TestChips(t *testing.T) {
	want := []Chip{"esp8266", "esp32", "esp32s2", "esp32s3", "esp32c2", "esp32c3", "esp32c5", "esp32c6", "esp32c61", "esp32h2", "esp32h21", "esp32h4", "esp32p4", "esp32s31", "esp32e22"}
	if got := KnownChips(); !reflect.DeepEqual(got, want) {
		t.Errorf("KnownChips: got %v, want %v", got, want)
	}
	KnownChips()[0] = "mangled"
	if got := KnownChips()[0]; got != ESP8266 {
		t.Errorf("KnownChips shares its slice: got %q after modifying a copy", got)
	}
	ids := map[Chip]uint16{ESP32: 0, ESP32S2: 2, ESP32C3: 5, ESP32S3: 9, ESP32C2: 12, ESP32C6: 13, ESP32H2: 16, ESP32P4: 18, ESP32C61: 20, ESP32C5: 23, ESP32H21: 25, ESP32H4: 28, ESP32E22: 31, ESP32S31: 32}
	for chip, id := range ids {
		if got, ok := chip.ImageChipID(); !ok || got != id {
			t.Errorf("%s.ImageChipID(): got %d, %v, want %d, true", chip, got, ok, id)
		}
		if got, ok := ChipForID(id); !ok || got != chip {
			t.Errorf("ChipForID(%d): got %q, %v, want %q, true", id, got, ok, chip)
		}
		if !chip.Known() || !chip.ESP32Family() {
			t.Errorf("%s: Known %v ESP32Family %v, want both true", chip, chip.Known(), chip.ESP32Family())
		}
	}
	if _, ok := ESP8266.ImageChipID(); ok {
		t.Error("ESP8266.ImageChipID: got ok, want no chip id")
	}
	if ESP8266.ESP32Family() || !ESP8266.Known() {
		t.Error("ESP8266: want Known and not ESP32Family")
	}
	for _, id := range []uint16{1, 4, 7, 10, 14, 17, 0xFFFF} {
		if c, ok := ChipForID(id); ok {
			t.Errorf("ChipForID(%d): got %q, want unknown", id, c)
		}
	}
	for _, c := range []Chip{"", "ESP32", "esp32-s3", "esp8285"} {
		if c.Known() {
			t.Errorf("Chip(%q).Known(): got true, want false", c)
		}
	}
	parse := map[string]Chip{"ESP32-S3": ESP32S3, " esp32_c3 ": ESP32C3, "ESP8266": ESP8266, "esp32c61": ESP32C61, "ESP32-H2": ESP32H2, "ESP32-E22": ESP32E22}
	for in, want := range parse {
		if got, ok := ParseChip(in); !ok || got != want {
			t.Errorf("ParseChip(%q): got %q, %v, want %q, true", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "esp", "esp32s9", "stm32"} {
		if got, ok := ParseChip(in); ok {
			t.Errorf("ParseChip(%q): got %q, want not ok", in, got)
		}
	}
}

func TestRevision(t *testing.T) {
	r := Revision(301)
	if r.Major() != 3 || r.Minor() != 1 || r.String() != "v3.1" {
		t.Errorf("Revision(301): got major %d minor %d %q, want 3 1 \"v3.1\"", r.Major(), r.Minor(), r.String())
	}
}

// chunkReader returns at most n bytes per Read and records the largest
// buffer it was asked to fill.
type chunkReader struct {
	r       io.Reader
	n       int
	maxRead int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	c.maxRead = max(c.maxRead, len(p))
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

func TestScanSeedConvention(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		platform string
		want     SeedMatch
	}{
		{"plain", "\x00\x01garage-door\x00v1.2.3\x00", "garage-door", SeedMatch{true, "1.2.3"}},
		{"case-insensitive platform", "xxGARAGE-Door yy", "Garage-DOOR", SeedMatch{PlatformFound: true}},
		{"no match", "nothing to see here", "garage", SeedMatch{}},
		{"empty data", "", "garage", SeedMatch{}},
		{"empty platform never matches", "v1.0.0", "", SeedMatch{Version: "1.0.0"}},
		{"first version wins", "v1.2.3 and v2.0.0", "x", SeedMatch{Version: "1.2.3"}},
		{"upper-case V ignored", "V9.9.9 v1.0.1", "", SeedMatch{Version: "1.0.1"}},
		{"two parts are not enough", "v1.2 v3.4.5", "", SeedMatch{Version: "3.4.5"}},
		{"double v", "vv1.2.3", "", SeedMatch{Version: "1.2.3"}},
		{"v inside candidate restarts", "v1.v2.3.4", "", SeedMatch{Version: "2.3.4"}},
		{"four parts", "v1.2.3.4", "", SeedMatch{Version: "1.2.3"}},
		{"multi-digit", "build v12.345.6789-beta", "", SeedMatch{Version: "12.345.6789"}},
		{"version at end of data", "abc v0.0.7", "", SeedMatch{Version: "0.0.7"}},
		{"double dot", "v1..2.3 v4.5.6", "", SeedMatch{Version: "4.5.6"}},
		{"trailing dot", "v1.2. v7.8.9", "", SeedMatch{Version: "7.8.9"}},
		{"embedded in word", "esp-v2.3.4rc", "", SeedMatch{Version: "2.3.4"}},
		{"non-ASCII platform", "\xc3\x9cber-Lampe v1.0.0", "\xc3\x9cber-lampe", SeedMatch{true, "1.0.0"}},
		{"too long version skipped", "v" + strings.Repeat("1", 70) + ".2.3 v4.5.6", "", SeedMatch{Version: "4.5.6"}},
		{"longest allowed version", "v" + strings.Repeat("1", 59) + ".2.3", "", SeedMatch{Version: strings.Repeat("1", 59) + ".2.3"}},
		{"one too long", "v" + strings.Repeat("1", 60) + ".2.3", "", SeedMatch{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ScanSeedConvention(strings.NewReader(tt.data), tt.platform)
			if err != nil {
				t.Fatalf("ScanSeedConvention: %v", err)
			}
			if got != tt.want {
				t.Errorf("ScanSeedConvention: got %+v, want %+v", got, tt.want)
			}
			for bufSize := 1; bufSize <= 9; bufSize++ {
				got, err := scanSeed(strings.NewReader(tt.data), tt.platform, bufSize)
				if err != nil || got != tt.want {
					t.Errorf("scanSeed with %d-byte buffer: got %+v, %v, want %+v", bufSize, got, err, tt.want)
				}
			}
			got, err = ScanSeedConvention(iotest.OneByteReader(strings.NewReader(tt.data)), tt.platform)
			if err != nil || got != tt.want {
				t.Errorf("ScanSeedConvention one byte at a time: got %+v, %v, want %+v", got, err, tt.want)
			}
		})
	}
}

// TestScanSeedConventionBoundaries places the platform and the version at
// every offset around a buffer boundary.
func TestScanSeedConventionBoundaries(t *testing.T) {
	const bufSize = 16
	const platform = "Weather-Station"
	for off := 0; off < 2*bufSize+2; off++ {
		data := strings.Repeat("\x00", off) + "WEATHER-station" + strings.Repeat("-", off%5) + "v10.20.30"
		got, err := scanSeed(strings.NewReader(data), platform, bufSize)
		if err != nil {
			t.Fatal(err)
		}
		if want := (SeedMatch{true, "10.20.30"}); got != want {
			t.Errorf("offset %d: got %+v, want %+v", off, got, want)
		}
	}
}

func TestScanSeedConventionLargeImage(t *testing.T) {
	const size = 4 << 20
	img, err := Build(BuildOptions{Chip: ESP8266, ProjectName: "Big-Project", Version: "3.2.1", Size: size})
	if err != nil {
		t.Fatal(err)
	}
	// Put the platform name only near the end, across a read boundary.
	img2 := bytes.Clone(img)
	copy(img2[16:], make([]byte, 64)) // wipe the body strings
	copy(img2[size-seedBufSize-5:], "late-platform")
	copy(img2[2*seedBufSize-3:], "v7.7.7")
	for _, tt := range []struct {
		name     string
		img      []byte
		platform string
		want     SeedMatch
	}{
		{"built image", img, "big-project", SeedMatch{true, "3.2.1"}},
		{"late matches", img2, "LATE-PLATFORM", SeedMatch{true, "7.7.7"}},
		{"absent platform", img2, "big-project", SeedMatch{false, "7.7.7"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &chunkReader{r: bytes.NewReader(tt.img), n: 1000}
			got, err := ScanSeedConvention(r, tt.platform)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if r.maxRead > seedBufSize {
				t.Errorf("largest read: got %d bytes, want at most %d", r.maxRead, seedBufSize)
			}
		})
	}
}

func TestScanSeedConventionReadError(t *testing.T) {
	readErr := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("platform v1.2"), iotest.ErrReader(readErr))
	got, err := ScanSeedConvention(r, "platform")
	if !errors.Is(err, readErr) {
		t.Fatalf("got error %v, want %v", err, readErr)
	}
	if want := (SeedMatch{PlatformFound: true}); got != want {
		t.Errorf("partial result: got %+v, want %+v", got, want)
	}
	// Both found before the failure: no need to read further.
	r = io.MultiReader(strings.NewReader("platform v1.2.3 "), iotest.ErrReader(readErr))
	if got, err := ScanSeedConvention(r, "platform"); err != nil || got != (SeedMatch{true, "1.2.3"}) {
		t.Errorf("got %+v, %v, want a full match and no error", got, err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestScanSeedConventionNoProgress(t *testing.T) {
	if _, err := ScanSeedConvention(zeroReader{}, "x"); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("got %v, want io.ErrNoProgress", err)
	}
}
