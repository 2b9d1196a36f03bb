package espimage

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
)

// BuildOptions describes a synthetic image for Build.
type BuildOptions struct {
	// Chip is the chip family the image is for; required.
	Chip Chip
	// ProjectName is written into the app descriptor (ESP32 family) and,
	// for every chip, as a plain NUL-delimited string in the body so that
	// ScanSeedConvention finds it.
	ProjectName string
	// Version is the application version, e.g. "1.2.3". The descriptor gets
	// it as is, the body gets "v" + Version.
	Version string
	// Size is the total size of the image in bytes. 0 means the smallest
	// image that holds everything; a non-zero Size below that is an error.
	Size int
	// FlashSize is the flash size in bytes the header announces; 0 means
	// 4 MiB. It must be a size the chip's header can encode.
	FlashSize int64
	// Date and Time are the descriptor's compile date and time; empty means
	// "Jan  1 2025" and "00:00:00".
	Date, Time string
	// IDFVersion is the descriptor's ESP-IDF version; empty means "v5.4".
	// A three-part value such as "v5.4.1" precedes the body in the file, so
	// ScanSeedConvention would report it instead of Version.
	IDFVersion string
	// NoDescriptor leaves the app descriptor out of ESP32-family images.
	NoDescriptor bool
	// RAMOnly loads every segment into RAM, as a bootloader's do: Scan
	// reports KindRAMOnly, and no OTA update may install the image.
	RAMOnly bool
	// Arduino lays an ESP8266 image out as the Arduino core's elf2bin
	// does: a small eboot image padded with 0xAA to 4 KiB, then the
	// application, which Size then includes. ESP8266 only.
	Arduino bool
	// Compressible fills segments with bytes of 4 bits of entropy, which
	// gzip shrinks by about 40% as it does real firmware, instead of
	// random bytes, which it cannot shrink.
	Compressible bool
}

// Defaults Build uses for empty BuildOptions fields.
const (
	DefaultBuildFlashSize  = 4 << 20
	DefaultBuildDate       = "Jan  1 2025"
	DefaultBuildTime       = "00:00:00"
	DefaultBuildIDFVersion = "v5.4"
)

// maxSegmentLen is the limit esptool puts on one segment's length.
const maxSegmentLen = 16<<20 - 1

// ramSegmentLen is the length of the small code segment Build adds.
const ramSegmentLen = 16

// errBuild is wrapped by every error Build returns.
var errBuild = errors.New("espimage: cannot build image")

// Build makes a small image that looks valid without being real firmware:
// Parse accepts it and reports opts back, and the header checks devices make
// before an OTA update (ESP8266httpUpdate and Arduino-ESP32 HTTPUpdate: first
// byte 0xE9, a flash size code the chip knows) pass. The image has the
// real layout: header (plus extended header and appended SHA-256 for the
// ESP32 family), a flash-mapped segment that starts with the app descriptor
// and the body strings, a 16-byte RAM segment holding the entry point, the
// XOR checksum, and 0xFF padding up to Size. Segment filler comes from a
// generator seeded by opts, so the same options always give the same bytes.
func Build(opts BuildOptions) ([]byte, error) {
	spec, ok := lookupChip(opts.Chip)
	if !ok {
		return nil, fmt.Errorf("%w: unknown chip %q", errBuild, opts.Chip)
	}
	esp32 := spec.hasID
	flash := opts.FlashSize
	if flash == 0 {
		flash = DefaultBuildFlashSize
	}
	sizeCode, ok := flashSizeCode(esp32, flash)
	if !ok {
		return nil, fmt.Errorf("%w: %s headers cannot encode a flash size of %d bytes", errBuild, opts.Chip, flash)
	}
	if opts.Size < 0 {
		return nil, fmt.Errorf("%w: negative size %d", errBuild, opts.Size)
	}
	if opts.Arduino {
		return buildArduino(opts)
	}

	var content []byte
	if esp32 && !opts.NoDescriptor {
		desc, err := buildAppDescriptor(opts)
		if err != nil {
			return nil, err
		}
		content = append(content, desc...)
	}
	if opts.ProjectName != "" {
		content = append(content, 0)
		content = append(content, opts.ProjectName...)
		content = append(content, 0)
	}
	if opts.Version != "" {
		content = append(content, 0, 'v')
		content = append(content, opts.Version...)
		content = append(content, 0)
	}
	for len(content)%4 != 0 {
		content = append(content, 0)
	}

	hdrLen, hashLen := esp8266HeaderLen, 0
	if esp32 {
		hdrLen, hashLen = esp32HeaderLen, sha256.Size
	}
	// Everything before the checksum except the flexible segment's data.
	fixed := hdrLen + 8 + 8 + ramSegmentLen
	total := func(dataLen int) int { return roundUp(fixed+dataLen+1, 16) + hashLen }

	size := opts.Size
	if minSize := total(len(content)); size == 0 {
		size = minSize
	} else if size < minSize {
		return nil, fmt.Errorf("%w: size %d is below the minimum of %d bytes for these options", errBuild, size, minSize)
	}
	// The flexible segment takes all the room that the checksum alignment
	// and the digest leave; less than 16 bytes of 0xFF padding follow.
	dataLen := ((size-hashLen)&^15 - fixed - 1) &^ 3
	if dataLen > maxSegmentLen {
		return nil, fmt.Errorf("%w: size %d needs a segment over 16 MiB", errBuild, size)
	}

	fill := newFiller(opts, size)
	fill.low = opts.Compressible
	entry := spec.ram + 4
	img := make([]byte, 0, size)
	img = append(img, imageMagic, 2, 2 /* DIO */, sizeCode<<4 /* freq code 0 */)
	img = binary.LittleEndian.AppendUint32(img, entry)
	if esp32 {
		img = append(img, wpPinDisabled, 0, 0, 0)
		img = binary.LittleEndian.AppendUint16(img, spec.id)
		img = append(img, 0)                                // legacy min chip rev
		img = binary.LittleEndian.AppendUint16(img, 0)      // min chip rev
		img = binary.LittleEndian.AppendUint16(img, 0xFFFF) // max chip rev: no limit
		img = append(img, 0, 0, 0, 0, 1)                    // reserved, hash_appended
	}
	checksum := byte(0xEF)
	segment := func(addr uint32, data []byte) {
		img = binary.LittleEndian.AppendUint32(img, addr)
		img = binary.LittleEndian.AppendUint32(img, uint32(len(data)))
		img = append(img, data...)
		for _, b := range data {
			checksum ^= b
		}
	}
	seg0 := make([]byte, dataLen)
	copy(seg0, content)
	fill.read(seg0[len(content):])
	seg0Addr := spec.drom
	if opts.RAMOnly {
		seg0Addr = spec.ram + ramSegmentLen
	}
	segment(seg0Addr, seg0)
	code := make([]byte, ramSegmentLen)
	fill.read(code)
	segment(spec.ram, code)
	for len(img)%16 != 15 {
		img = append(img, 0)
	}
	img = append(img, checksum)
	if esp32 {
		sum := sha256.Sum256(img)
		img = append(img, sum[:]...)
	}
	for len(img) < size {
		img = append(img, 0xFF)
	}
	return img, nil
}

// ebootAddr is where Arduino's eboot loads and starts.
const ebootAddr = 0x4010F000

// buildArduino builds an ESP8266 image with the Arduino core's layout:
// eboot, then at arduinoAppOffset the application Build makes for opts.
func buildArduino(opts BuildOptions) ([]byte, error) {
	if opts.Chip != ESP8266 {
		return nil, fmt.Errorf("%w: the Arduino layout is for the ESP8266, not %s", errBuild, opts.Chip)
	}
	app := opts
	app.Arduino = false
	if opts.Size > 0 {
		if app.Size -= arduinoAppOffset; app.Size <= 0 {
			return nil, fmt.Errorf("%w: size %d leaves no room for the application after eboot", errBuild, opts.Size)
		}
	}
	body, err := Build(app)
	if err != nil {
		return nil, err
	}
	// eboot: one small IRAM segment, its checksum, padding to 4 KiB.
	code := make([]byte, 32)
	newFiller(opts, -1).read(code)
	img := []byte{imageMagic, 1, body[2], body[3]}
	img = binary.LittleEndian.AppendUint32(img, ebootAddr+4)
	img = binary.LittleEndian.AppendUint32(img, ebootAddr)
	img = binary.LittleEndian.AppendUint32(img, uint32(len(code)))
	img = append(img, code...)
	checksum := byte(0xEF)
	for _, b := range code {
		checksum ^= b
	}
	for len(img)%16 != 15 {
		img = append(img, 0)
	}
	img = append(img, checksum)
	for len(img) < arduinoAppOffset {
		img = append(img, 0xAA)
	}
	return append(img, body...), nil
}

// buildAppDescriptor encodes the esp_app_desc_t for opts.
func buildAppDescriptor(opts BuildOptions) ([]byte, error) {
	date, tim, idf := opts.Date, opts.Time, opts.IDFVersion
	if date == "" {
		date = DefaultBuildDate
	}
	if tim == "" {
		tim = DefaultBuildTime
	}
	if idf == "" {
		idf = DefaultBuildIDFVersion
	}
	d := make([]byte, appDescLen)
	binary.LittleEndian.PutUint32(d[0:4], appDescMagic)
	fields := []struct {
		name, val string
		lo, hi    int
	}{
		{"Version", opts.Version, 16, 48},
		{"ProjectName", opts.ProjectName, 48, 80},
		{"Time", tim, 80, 96},
		{"Date", date, 96, 112},
		{"IDFVersion", idf, 112, 144},
	}
	for _, f := range fields {
		if len(f.val) > f.hi-f.lo {
			return nil, fmt.Errorf("%w: %s %q is longer than the descriptor's %d bytes", errBuild, f.name, f.val, f.hi-f.lo)
		}
		if !printable(f.val) {
			return nil, fmt.Errorf("%w: %s %q is not printable UTF-8", errBuild, f.name, f.val)
		}
		copy(d[f.lo:f.hi], f.val)
	}
	elf := sha256.Sum256([]byte("otagit espimage ELF\x00" + string(opts.Chip) + "\x00" + opts.ProjectName + "\x00" + opts.Version))
	copy(d[144:176], elf[:])
	binary.LittleEndian.PutUint16(d[176:178], 0)      // min eFuse block rev
	binary.LittleEndian.PutUint16(d[178:180], 0xFFFF) // max eFuse block rev: no limit
	d[180] = 16                                       // MMU page size 64 KiB
	return d, nil
}

// flashSizeCode returns the header nibble that stands for size bytes on an
// ESP32-family chip (esp32) or an ESP8266.
func flashSizeCode(esp32 bool, size int64) (byte, bool) {
	for code := byte(0); code < 16; code++ {
		var s int64
		if esp32 {
			s = esp32FlashSize(code)
		} else {
			if code == 5 || code == 6 {
				continue // prefer the plain 2 MiB / 4 MiB codes
			}
			s = esp8266FlashSize(code)
		}
		if s != 0 && s == size {
			return code, true
		}
	}
	return 0, false
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }

// filler is a small deterministic generator (SplitMix64) for segment
// contents. With low set, every byte holds 4 random bits.
type filler struct {
	state uint64
	low   bool
}

func newFiller(opts BuildOptions, size int) *filler {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%d", opts.Chip, opts.ProjectName, opts.Version, size, opts.FlashSize)
	return &filler{state: h.Sum64()}
}

func (f *filler) next() uint64 {
	f.state += 0x9E3779B97F4A7C15
	z := f.state
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

func (f *filler) read(p []byte) {
	for i := 0; i < len(p); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], f.next())
		if f.low {
			for j := range w {
				w[j] &= 0x0F
			}
		}
		copy(p[i:], w[:])
	}
}
