// Package espimage reads the headers of Espressif firmware application
// images (the .bin files that ESP8266 and ESP32-family devices download
// during an OTA update), reads a whole image file (decompressing a gzip
// ESP8266 one), finds the "seed convention" platform name and version
// inside a binary, and builds small synthetic images for tests.
//
// It does no I/O of its own beyond the io.Reader arguments it is given,
// except ReadFile, which reads the one file it is given.
//
// # Image layout
//
// Every uncompressed image starts with an 8-byte header:
//
//	0      magic 0xE9
//	1      segment count
//	2      SPI flash mode (0 QIO, 1 QOUT, 2 DIO, 3 DOUT)
//	3      high nibble: flash size code, low nibble: flash frequency code
//	4..7   entry point address, little endian
//
// ESP8266 images continue directly with the first segment header (load
// address and length, 4 bytes each). ESP32-family images (ESP32, -S2, -S3,
// -C2, -C3, -C5, -C6, -C61, -H2, -H21, -H4, -P4, -S31, -E22) insert a 16-byte
// extended header first:
//
//	8      WP pin (0xEE: disabled)
//	9..11  SPI pin drive strengths
//	12..13 chip id, little endian
//	14     legacy minimum chip revision
//	15..16 minimum chip revision, major*100+minor
//	17..18 maximum chip revision, major*100+minor
//	19..22 reserved, zero
//	23     1 when a SHA-256 digest is appended to the image
//
// ESP-IDF applications (which includes Arduino-ESP32 sketches) start their
// first segment with the 256-byte esp_app_desc_t, so it sits at file offset
// 24+8 = 32.
//
// The ESP8266 Arduino core also accepts gzip-compressed images, and
// esp32FOTA gzip and zlib ones; those reveal nothing without
// decompression, which Scan does (bounded) over a whole file. Scan also
// sees through the 512-byte signature esp32FOTA signed images start with,
// walks the segments to tell applications from bootloaders, computes the
// MD5 a device reports once it runs the image, and recognises filesystem
// images (DetectFilesystem).
package espimage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// HeaderLen is how many leading bytes of an image Parse needs to see
// everything it reports (image header, extended header, first segment header
// and the ESP-IDF app descriptor). Callers pass min(HeaderLen, file size)
// bytes; Parse ignores anything beyond HeaderLen.
const HeaderLen = 512

// MinHeaderLen is the fewest bytes Parse accepts for an uncompressed image:
// the 8-byte header plus the 16 bytes that are either the ESP32-family
// extended header or the ESP8266 first segment header and its first data.
const MinHeaderLen = 24

// MaxSegments is the largest segment count the ESP-IDF bootloader and
// esptool accept in an image header (ESP_IMAGE_MAX_SEGMENTS).
const MaxSegments = 16

// Errors returned by Parse, wrapped with context; test for them with
// errors.Is.
var (
	// ErrEmpty reports an image of zero bytes.
	ErrEmpty = errors.New("espimage: empty image")
	// ErrTooShort reports an image too short to hold the headers Parse
	// needs to classify it.
	ErrTooShort = errors.New("espimage: image too short")
	// ErrBadMagic reports an image that starts neither with the firmware
	// magic byte 0xE9 nor with a gzip (0x1F 0x8B) or zlib header.
	ErrBadMagic = errors.New("espimage: not a firmware image (bad magic)")
	// ErrUnknownChipID reports an ESP32-family extended header whose chip id
	// is not a known chip. Parse still returns everything else it read.
	ErrUnknownChipID = errors.New("espimage: unknown chip id in extended header")
	// ErrUnknownLayout reports a header with the right magic byte that looks
	// neither like an ESP8266 image nor like an ESP32-family image. Parse
	// still returns the fields of the common 8-byte header.
	ErrUnknownLayout = errors.New("espimage: header matches neither the ESP8266 nor the ESP32-family layout")
	// ErrBadSegmentCount reports a segment count of 0 or more than
	// MaxSegments, which no bootloader accepts. Parse still returns
	// everything it read.
	ErrBadSegmentCount = errors.New("espimage: implausible segment count")
)

// Magic numbers of the formats Parse understands.
const (
	imageMagic       = 0xE9
	gzipMagic0       = 0x1F
	gzipMagic1       = 0x8B
	zlibMagic        = 0x78 // deflate with a 32 KiB window, as pigz -z and zlib write
	appDescMagic     = 0xABCD5432
	appDescLen       = 256
	appDescOffset    = 24 + 8 // extended header, first segment header
	wpPinDisabled    = 0xEE
	esp8266HeaderLen = 8
	esp32HeaderLen   = 24
)

// Revision is a chip or eFuse-block revision in ESP-IDF's "full" encoding,
// major*100 + minor.
type Revision uint16

// Major returns the major part of the revision.
func (r Revision) Major() int { return int(r) / 100 }

// Minor returns the minor part of the revision.
func (r Revision) Minor() int { return int(r) % 100 }

// String formats the revision as ESP-IDF does, "v<major>.<minor>".
func (r Revision) String() string { return fmt.Sprintf("v%d.%d", r.Major(), r.Minor()) }

// Info is what Parse learns from the start of an image.
type Info struct {
	// Chip is the detected chip family: ESP8266 for ESP8266 images, the
	// family named by the chip id for ESP32-family images, and "" when
	// Parse could not tell (a compressed image among them).
	Chip Chip
	// Compressed is true for a prefix that starts with a gzip or zlib
	// header: a compressed image, whose header only Scan reads. All other
	// fields are then zero.
	Compressed bool
	// SegmentCount is the segment count from header byte 1.
	SegmentCount int
	// FlashMode is header byte 2 as stored: 0 QIO, 1 QOUT, 2 DIO, 3 DOUT.
	FlashMode byte
	// FlashSizeCode is the high nibble of header byte 3.
	FlashSizeCode byte
	// FlashFreqCode is the low nibble of header byte 3.
	FlashFreqCode byte
	// FlashSize is the flash size in bytes that FlashSizeCode stands for on
	// this chip family, or 0 if the code is not a defined one. ESP8266
	// codes 5 and 6 are esptool's "2MB-c1" and "4MB-c1" layouts (2 and
	// 4 MiB); note that the ESP8266 Arduino core's magicFlashChipSize maps
	// them to 0.
	FlashSize int64
	// EntryPoint is the entry point address from the header.
	EntryPoint uint32
	// ChipID is the chip id from the ESP32-family extended header, 0 for
	// ESP8266 images. It is also set when the id is unknown.
	ChipID uint16
	// MinChipRev is the minimum chip revision the image supports
	// (ESP32-family only). Images built before ESP-IDF 5.0 leave it 0 and
	// use MinChipRevLegacy instead.
	MinChipRev Revision
	// MaxChipRev is the maximum chip revision the image supports
	// (ESP32-family only); 0 and 0xFFFF (v655.35) both mean "no limit".
	MaxChipRev Revision
	// MinChipRevLegacy is the single-byte minimum chip revision of older
	// headers (a major revision on most chips, a minor one on ESP32-C3).
	MinChipRevLegacy uint8
	// HashAppended is true when the extended header says a SHA-256 digest
	// of the image follows its checksum.
	HashAppended bool
	// App is the ESP-IDF application descriptor, nil when it is absent
	// (ESP8266 images, pre-ESP-IDF-3.3 images, bootloaders, or a prefix too
	// short to hold it).
	App *AppDescriptor
	// AppInvalid is true when the descriptor's magic word was present but
	// its text fields were not printable UTF-8. App is nil in that case:
	// Parse does not trust a descriptor it cannot read.
	AppInvalid bool
}

// AppDescriptor is the ESP-IDF esp_app_desc_t found at the start of an
// application's first segment. Text fields are cut at their first NUL byte.
type AppDescriptor struct {
	// SecureVersion is the anti-rollback security version.
	SecureVersion uint32
	// Version is the application version (PROJECT_VER).
	Version string
	// ProjectName is the project name (PROJECT_NAME).
	ProjectName string
	// Time is the compile time, usually __TIME__ ("hh:mm:ss"); empty when
	// the build disabled it.
	Time string
	// Date is the compile date, usually __DATE__ ("Mmm dd yyyy"); empty when
	// the build disabled it.
	Date string
	// IDFVersion is the ESP-IDF version the application was built with.
	IDFVersion string
	// ELFSHA256 is the SHA-256 of the application's ELF file.
	ELFSHA256 [32]byte
	// MinEfuseBlockRev is the minimum eFuse block revision (ESP-IDF 5.1+).
	MinEfuseBlockRev Revision
	// MaxEfuseBlockRev is the maximum eFuse block revision (ESP-IDF 5.1+).
	MaxEfuseBlockRev Revision
	// MMUPageSize is the flash MMU page size in bytes the application was
	// linked for, 0 when not recorded (before ESP-IDF 5.1).
	MMUPageSize int
}

// Parse reads the start of a firmware image. prefix should hold the first
// min(HeaderLen, file size) bytes of the file.
//
// On ErrUnknownChipID, ErrUnknownLayout and ErrBadSegmentCount the returned
// Info holds everything Parse could read; on other errors it is zero. Parse
// never panics.
//
// # Telling ESP8266 from ESP32-family images
//
// The header does not say which layout follows it (esptool is told the chip
// on its command line), so Parse weighs two kinds of evidence. For the
// ESP8266 layout, bytes 8..11 are the first segment's load address, which
// lies in ESP8266 DRAM (0x3FFE8000-0x3FFFFFFF), IRAM (0x40100000-0x4010FFFF,
// where Arduino's eboot and the SDK code load) or the flash-mapped IROM
// window (0x40200000-0x402FFFFF, where Arduino's and the RTOS SDK's first
// segment loads); and the entry point lies in ESP8266 IRAM. For the
// ESP32-family layout, the same bytes are the WP pin and pin drive settings
// (normally EE 00 00 00, which can never read as such an address), the chip
// id at bytes 12..13 is in the known table, the reserved bytes 19..22 are
// zero and hash_appended (byte 23) is 0 or 1 — esptool's own image_info
// auto-detection checks only the last two. No ESP32-family entry point lies
// in 0x40100000-0x4010FFFF (their reset code runs from internal RAM at other
// addresses). The rules, first match wins:
//
//  1. segment address and entry point both ESP8266: ESP8266;
//  2. hash_appended 0/1 and known chip id, and either the reserved bytes
//     are zero or there is no ESP8266 evidence at all: that ESP32-family chip;
//  3. either ESP8266 sign: ESP8266;
//  4. hash_appended 0/1 and reserved bytes zero: ESP32 family with an
//     unknown chip id (ErrUnknownChipID);
//  5. otherwise ErrUnknownLayout.
func Parse(prefix []byte) (Info, error) {
	if len(prefix) == 0 {
		return Info{}, ErrEmpty
	}
	if len(prefix) > HeaderLen {
		prefix = prefix[:HeaderLen]
	}
	switch enc := compression(prefix); {
	case enc != Raw:
		return Info{Compressed: true}, nil
	case prefix[0] == gzipMagic0 && len(prefix) < 2:
		return Info{}, fmt.Errorf("gzip image: got 1 byte, need 2: %w", ErrTooShort)
	case prefix[0] != imageMagic:
		if len(prefix) > 1 && (prefix[0] == gzipMagic0 || prefix[0] == zlibMagic) {
			return Info{}, fmt.Errorf("first bytes %#02x %#02x: %w", prefix[0], prefix[1], ErrBadMagic)
		}
		return Info{}, fmt.Errorf("first byte %#02x: %w", prefix[0], ErrBadMagic)
	}
	if len(prefix) < MinHeaderLen {
		return Info{}, fmt.Errorf("got %d bytes, header needs %d: %w", len(prefix), MinHeaderLen, ErrTooShort)
	}

	info := Info{
		SegmentCount:  int(prefix[1]),
		FlashMode:     prefix[2],
		FlashSizeCode: prefix[3] >> 4,
		FlashFreqCode: prefix[3] & 0x0F,
		EntryPoint:    binary.LittleEndian.Uint32(prefix[4:8]),
	}

	var err error
	switch kind, chip := classify(prefix); kind {
	case layoutESP8266:
		info.Chip = ESP8266
		info.FlashSize = esp8266FlashSize(info.FlashSizeCode)
	case layoutESP32, layoutUnknownChipID:
		info.Chip = chip
		readExtendedHeader(prefix, &info)
		if kind == layoutUnknownChipID {
			err = fmt.Errorf("chip id %#04x: %w", info.ChipID, ErrUnknownChipID)
		}
	default:
		return info, fmt.Errorf("segment address %#08x, entry point %#08x: %w",
			binary.LittleEndian.Uint32(prefix[8:12]), info.EntryPoint, ErrUnknownLayout)
	}
	if err == nil && (info.SegmentCount == 0 || info.SegmentCount > MaxSegments) {
		err = fmt.Errorf("%d segments, want 1 to %d: %w", info.SegmentCount, MaxSegments, ErrBadSegmentCount)
	}
	return info, err
}

// compression returns the encoding whose header p starts with: Gzip for
// the gzip magic and deflate method (1F 8B 08; 1F 8B when p is that
// short), Zlib for a valid zlib
// header (deflate, a 32 KiB window, no preset dictionary, the check
// bits right), Raw otherwise.
func compression(p []byte) Encoding {
	switch {
	case len(p) >= 2 && p[0] == gzipMagic0 && p[1] == gzipMagic1 && (len(p) == 2 || p[2] == 8):
		return Gzip
	case len(p) >= 2 && p[0] == zlibMagic && p[1]&0x20 == 0 && (uint16(p[0])<<8|uint16(p[1]))%31 == 0:
		return Zlib
	}
	return Raw
}

// ParseReader reads up to HeaderLen bytes from r and parses them as Parse
// does. A reader that ends early is not an error in itself; Parse then
// judges the shorter prefix.
func ParseReader(r io.Reader) (Info, error) {
	buf := make([]byte, HeaderLen)
	n, err := io.ReadFull(r, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return Info{}, fmt.Errorf("read image header: %w", err)
	}
	return Parse(buf[:n])
}

type layoutKind int

const (
	layoutUnknown layoutKind = iota
	layoutESP8266
	layoutESP32
	layoutUnknownChipID
)

// classify applies the rules documented on Parse. p holds at least
// MinHeaderLen bytes.
func classify(p []byte) (layoutKind, Chip) {
	segAddr := binary.LittleEndian.Uint32(p[8:12])
	entry := binary.LittleEndian.Uint32(p[4:8])
	seg8266 := inESP8266Memory(segAddr)
	entry8266 := inESP8266IRAM(entry)
	hashOK := p[23] <= 1
	reservedOK := p[19] == 0 && p[20] == 0 && p[21] == 0 && p[22] == 0
	chip, known := ChipForID(binary.LittleEndian.Uint16(p[12:14]))

	switch {
	case seg8266 && entry8266:
		return layoutESP8266, ""
	case hashOK && known && (reservedOK || !(seg8266 || entry8266)):
		return layoutESP32, chip
	case seg8266 || entry8266:
		return layoutESP8266, ""
	case hashOK && reservedOK:
		return layoutUnknownChipID, ""
	}
	return layoutUnknown, ""
}

// inESP8266IRAM reports whether addr lies in the ESP8266 instruction RAM,
// including the upper 32 KiB that the Arduino eboot loader uses.
func inESP8266IRAM(addr uint32) bool {
	return addr >= 0x40100000 && addr < 0x40110000
}

// inESP8266Memory reports whether addr is a plausible ESP8266 segment load
// address: DRAM, IRAM or the 1 MiB flash-mapped IROM window.
func inESP8266Memory(addr uint32) bool {
	switch {
	case addr >= 0x3FFE8000 && addr < 0x40000000:
		return true
	case inESP8266IRAM(addr):
		return true
	case addr >= 0x40200000 && addr < 0x40300000:
		return true
	}
	return false
}

// readExtendedHeader fills the ESP32-family fields of info from p, which
// holds at least MinHeaderLen bytes.
func readExtendedHeader(p []byte, info *Info) {
	info.ChipID = binary.LittleEndian.Uint16(p[12:14])
	info.MinChipRevLegacy = p[14]
	info.MinChipRev = Revision(binary.LittleEndian.Uint16(p[15:17]))
	info.MaxChipRev = Revision(binary.LittleEndian.Uint16(p[17:19]))
	info.HashAppended = p[23] == 1
	info.FlashSize = esp32FlashSize(info.FlashSizeCode)

	if len(p) < appDescOffset+appDescLen {
		return
	}
	if binary.LittleEndian.Uint32(p[28:32]) < appDescLen {
		return // first segment too short to hold a descriptor
	}
	d := p[appDescOffset : appDescOffset+appDescLen]
	if binary.LittleEndian.Uint32(d[0:4]) != appDescMagic {
		return
	}
	app, ok := parseAppDescriptor(d)
	if !ok {
		info.AppInvalid = true
		return
	}
	info.App = app
}

// parseAppDescriptor decodes a 256-byte esp_app_desc_t whose magic word has
// already been checked. It reports false when a text field is not
// printable UTF-8.
func parseAppDescriptor(d []byte) (*AppDescriptor, bool) {
	app := &AppDescriptor{
		SecureVersion:    binary.LittleEndian.Uint32(d[4:8]),
		MinEfuseBlockRev: Revision(binary.LittleEndian.Uint16(d[176:178])),
		MaxEfuseBlockRev: Revision(binary.LittleEndian.Uint16(d[178:180])),
	}
	if l := d[180]; l > 0 && l < 32 {
		app.MMUPageSize = 1 << l
	}
	copy(app.ELFSHA256[:], d[144:176])
	fields := []struct {
		dst    *string
		lo, hi int
	}{
		{&app.Version, 16, 48},
		{&app.ProjectName, 48, 80},
		{&app.Time, 80, 96},
		{&app.Date, 96, 112},
		{&app.IDFVersion, 112, 144},
	}
	for _, f := range fields {
		s, ok := cString(d[f.lo:f.hi])
		if !ok {
			return nil, false
		}
		*f.dst = s
	}
	return app, true
}

// cString returns the text of a fixed-size C string field up to its first
// NUL, and whether that text is printable UTF-8.
func cString(b []byte) (string, bool) {
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	if !printable(string(b)) {
		return "", false
	}
	return string(b), true
}

// printable reports whether s is valid UTF-8 made of printable characters
// (spaces included).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// esp8266FlashSize maps an ESP8266 flash size code to bytes (esptool
// ESP8266ROM.FLASH_SIZES; Arduino ESP8266 core magicFlashChipSize).
func esp8266FlashSize(code byte) int64 {
	const k, m = 1 << 10, 1 << 20
	switch code {
	case 0:
		return 512 * k
	case 1:
		return 256 * k
	case 2:
		return 1 * m
	case 3, 5: // 5: "2MB-c1"
		return 2 * m
	case 4, 6: // 6: "4MB-c1"
		return 4 * m
	case 8:
		return 8 * m
	case 9:
		return 16 * m
	}
	return 0
}

// esp32FlashSize maps an ESP32-family flash size code to bytes
// (esp_image_flash_size_t; esptool ESP32ROM.FLASH_SIZES): 1 MiB << code.
func esp32FlashSize(code byte) int64 {
	if code > 7 {
		return 0
	}
	return 1 << 20 << code
}
