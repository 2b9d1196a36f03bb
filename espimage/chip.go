package espimage

import "strings"

// Chip names an Espressif chip family in lower case, the way esptool's
// --chip option spells it (for example "esp32s3").
type Chip string

// The chip families this package recognises. ESP8266 images carry no chip
// id; every other family is identified by the chip id in the extended image
// header (see ImageChipID).
const (
	ESP8266  Chip = "esp8266"
	ESP32    Chip = "esp32"
	ESP32S2  Chip = "esp32s2"
	ESP32S3  Chip = "esp32s3"
	ESP32C2  Chip = "esp32c2"
	ESP32C3  Chip = "esp32c3"
	ESP32C5  Chip = "esp32c5"
	ESP32C6  Chip = "esp32c6"
	ESP32C61 Chip = "esp32c61"
	ESP32H2  Chip = "esp32h2"
	ESP32H21 Chip = "esp32h21"
	ESP32H4  Chip = "esp32h4"
	ESP32P4  Chip = "esp32p4"
	ESP32S31 Chip = "esp32s31"
	ESP32E22 Chip = "esp32e22"
)

// chipSpec holds what this package knows about one chip family.
//
// id is the esp_chip_id_t value written into the extended header (ESP-IDF
// components/bootloader_support/include/esp_app_format.h; esptool
// targets/*.py IMAGE_CHIP_ID). flash are the address windows the chip's
// cache maps flash into (esptool's IROM_MAP and DROM_MAP ranges, widened
// to its MEMORY_MAP where that is larger): an application has a segment
// that loads there, a bootloader or an image run from RAM has none. drom is
// a load address inside the flash-mapped read-only data window and ram a
// load address inside the internal instruction RAM (esptool MEMORY_MAP);
// Build uses them so its images look like real application images.
type chipSpec struct {
	chip  Chip
	id    uint16
	hasID bool
	flash []addrRange
	drom  uint32
	ram   uint32
}

// addrRange is the half-open address range [lo, hi).
type addrRange struct{ lo, hi uint32 }

func (r addrRange) contains(a uint32) bool { return a >= r.lo && a < r.hi }

// chipSpecs lists the known chips in the order KnownChips reports them.
// Engineering-sample ids (ESP32-S3 beta2 = 4, ESP32-C6 beta = 7,
// ESP32-H2 beta1/beta2 = 10/14, ESP32-C5 beta3 = 17) are deliberately absent.
var chipSpecs = []chipSpec{
	// ESP8266: the 1 MiB IROM window; drom as in Arduino's elf2bin.
	{chip: ESP8266, flash: []addrRange{{0x40200000, 0x40300000}}, drom: 0x40201010, ram: 0x40100000},
	{chip: ESP32, id: 0, hasID: true, flash: []addrRange{{0x3F400000, 0x3F800000}, {0x400D0000, 0x40400000}}, drom: 0x3F400020, ram: 0x40080000},
	{chip: ESP32S2, id: 2, hasID: true, flash: []addrRange{{0x3F000000, 0x3F3F0000}, {0x40080000, 0x40B80000}}, drom: 0x3F000020, ram: 0x40022000},
	{chip: ESP32S3, id: 9, hasID: true, flash: []addrRange{{0x3C000000, 0x3E000000}, {0x42000000, 0x44000000}}, drom: 0x3C000020, ram: 0x40374000},
	{chip: ESP32C2, id: 12, hasID: true, flash: []addrRange{{0x3C000000, 0x3C400000}, {0x42000000, 0x42400000}}, drom: 0x3C000020, ram: 0x40380000},
	{chip: ESP32C3, id: 5, hasID: true, flash: []addrRange{{0x3C000000, 0x3C800000}, {0x42000000, 0x42800000}}, drom: 0x3C000020, ram: 0x40380000},
	{chip: ESP32C5, id: 23, hasID: true, flash: []addrRange{{0x42000000, 0x44000000}}, drom: 0x42000020, ram: 0x40800000},
	{chip: ESP32C6, id: 13, hasID: true, flash: []addrRange{{0x42000000, 0x43000000}}, drom: 0x42800020, ram: 0x40800000},
	{chip: ESP32C61, id: 20, hasID: true, flash: []addrRange{{0x42000000, 0x44000000}}, drom: 0x42000020, ram: 0x40800000},
	{chip: ESP32H2, id: 16, hasID: true, flash: []addrRange{{0x42000000, 0x43000000}}, drom: 0x42800020, ram: 0x40800000},
	{chip: ESP32H21, id: 25, hasID: true, flash: []addrRange{{0x42000000, 0x43000000}}, drom: 0x42800020, ram: 0x40800000},
	{chip: ESP32H4, id: 28, hasID: true, flash: []addrRange{{0x42000000, 0x44000000}}, drom: 0x42800020, ram: 0x40810000},
	{chip: ESP32P4, id: 18, hasID: true, flash: []addrRange{{0x40000000, 0x4C000000}}, drom: 0x40000020, ram: 0x4FF00000},
	{chip: ESP32S31, id: 32, hasID: true, flash: []addrRange{{0x40000000, 0x54000000}}, drom: 0x40000020, ram: 0x2F000000},
	{chip: ESP32E22, id: 31, hasID: true, flash: []addrRange{{0x3C000000, 0x40000000}}, drom: 0x3C000020, ram: 0x30FE0000},
}

// flashMapped reports whether addr lies in a window chip c maps flash
// into. It reports false for unknown chips.
func (c Chip) flashMapped(addr uint32) bool {
	s, ok := lookupChip(c)
	if !ok {
		return false
	}
	for _, r := range s.flash {
		if r.contains(addr) {
			return true
		}
	}
	return false
}

func lookupChip(c Chip) (chipSpec, bool) {
	for _, s := range chipSpecs {
		if s.chip == c {
			return s, true
		}
	}
	return chipSpec{}, false
}

// KnownChips returns every chip family this package recognises, ESP8266
// first. The caller may modify the returned slice.
func KnownChips() []Chip {
	out := make([]Chip, len(chipSpecs))
	for i, s := range chipSpecs {
		out[i] = s.chip
	}
	return out
}

// Known reports whether c is one of the chip families listed by KnownChips.
func (c Chip) Known() bool {
	_, ok := lookupChip(c)
	return ok
}

// ESP32Family reports whether c is a known chip whose images carry the
// 16-byte extended header (every known chip except the ESP8266).
func (c Chip) ESP32Family() bool {
	s, ok := lookupChip(c)
	return ok && s.hasID
}

// ImageChipID returns the chip id that images for c carry in their extended
// header. It returns false for the ESP8266 (whose images have no chip id)
// and for unknown chips.
func (c Chip) ImageChipID() (uint16, bool) {
	s, ok := lookupChip(c)
	if !ok || !s.hasID {
		return 0, false
	}
	return s.id, true
}

// ChipForID returns the chip family whose images carry the extended-header
// chip id id, and false if the id is not a known one.
func ChipForID(id uint16) (Chip, bool) {
	for _, s := range chipSpecs {
		if s.hasID && s.id == id {
			return s.chip, true
		}
	}
	return "", false
}

// ParseChip turns a chip name as people write it ("ESP32-S3", "esp32_c3",
// "ESP8266") into a known Chip. It reports false when the name is not a
// known chip family.
func ParseChip(s string) (Chip, bool) {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch r {
		case '-', '_', ' ', '(', ')':
			continue
		}
		b.WriteRune(r)
	}
	c := Chip(b.String())
	if !c.Known() {
		return "", false
	}
	return c, true
}

// WebToolsFamily returns the family's name as ESP Web Tools manifests
// write it (chipFamily), which is how ESPHome names its build's variant
// (ESPHOME_VARIANT) and what its http_request update compares with:
// "ESP8266", "ESP32", and "ESP32-" then the rest in upper case ("ESP32-S3",
// "ESP32-C3", "ESP32-C61"). It returns "" for an unknown chip.
func (c Chip) WebToolsFamily() string {
	switch {
	case !c.Known():
		return ""
	case c == ESP8266 || c == ESP32:
		return strings.ToUpper(string(c))
	}
	return "ESP32-" + strings.ToUpper(strings.TrimPrefix(string(c), "esp32"))
}
