package espimage

import (
	"bytes"
	"encoding/binary"
)

// Filesystem names the filesystem image format DetectFilesystem found.
// The zero Filesystem is NoFilesystem.
type Filesystem uint8

// The filesystem formats ESP sketches flash with updateFS() (ESP8266),
// updateSpiffs() (ESP32) or esp32FOTA.
const (
	// NoFilesystem: none of the formats below was recognised.
	NoFilesystem Filesystem = iota
	// LittleFS: a littlefs image (mklittlefs; the ESP8266 core's and
	// esp_littlefs' default).
	LittleFS
	// SPIFFS: a SPIFFS image (mkspiffs, spiffsgen.py) written with
	// SPIFFS_USE_MAGIC, the default of both Arduino cores and ESP-IDF.
	SPIFFS
	// FAT: a FAT boot sector (ESP-IDF fatfsgen.py, esp32FOTA's fatfs).
	FAT
)

// String returns "littlefs", "spiffs", "fat" or "none".
func (f Filesystem) String() string {
	switch f {
	case LittleFS:
		return "littlefs"
	case SPIFFS:
		return "spiffs"
	case FAT:
		return "fat"
	}
	return "none"
}

// littlefsMagic is the name of the superblock entry, which littlefs writes
// right after the metadata block's revision count and the entry's tag.
var littlefsMagic = []byte("littlefs")

// spiffsMagic is the constant SPIFFS_MAGIC starts from (spiffs_nucleus.h).
const spiffsMagic = 0x20140529

// DetectFilesystem reports the filesystem whose image starts with prefix;
// size is the whole image's length. Pass at least the first 65 KiB (Scan
// keeps that much), fewer for a shorter image.
//
// What it checks, as none of these formats has a header at a fixed place
// in every image:
//
//   - LittleFS: the superblock, which sits in metadata block 0 or 1 and
//     holds the name "littlefs" at offset 8 of its block (after the 32-bit
//     revision count and the entry's tag). Block 0 is tried, then block 1
//     for every block size from 128 bytes to 64 KiB.
//   - SPIFFS: SPIFFS has no superblock. With SPIFFS_USE_MAGIC (the default
//     of the ESP8266 and ESP32 Arduino cores, mkspiffs and ESP-IDF) every
//     block's object lookup area ends with a 16-bit magic, 0x20140529 XOR
//     the logical page size, also XOR the number of blocks left with
//     SPIFFS_USE_MAGIC_LENGTH (ESP-IDF's default). The magic is checked in
//     block 0 and, when the prefix holds it, block 1, for page sizes of
//     128 to 1024 bytes and block sizes of 4 to 64 KiB that divide size.
//     An image written without the magic is not recognised.
//   - FAT: the 0x55 0xAA boot sector signature and "FAT" in the boot
//     sector's file system type field (FAT12/16 at offset 54, FAT32 at 82).
func DetectFilesystem(prefix []byte, size int64) Filesystem {
	if isLittleFS(prefix) {
		return LittleFS
	}
	if isSPIFFS(prefix, size) {
		return SPIFFS
	}
	if len(prefix) >= 512 && prefix[510] == 0x55 && prefix[511] == 0xAA &&
		(bytes.HasPrefix(prefix[54:], []byte("FAT")) || bytes.HasPrefix(prefix[82:], []byte("FAT"))) {
		return FAT
	}
	return NoFilesystem
}

func isLittleFS(p []byte) bool {
	if len(p) >= 16 && bytes.Equal(p[8:16], littlefsMagic) {
		return true
	}
	for block := 128; block <= 64<<10; block *= 2 {
		if len(p) >= block+16 && bytes.Equal(p[block+8:block+16], littlefsMagic) {
			return true
		}
	}
	return false
}

func isSPIFFS(p []byte, size int64) bool {
	for page := int64(128); page <= 1024; page *= 2 {
		for block := int64(4 << 10); block <= 64<<10; block *= 2 {
			if size < block || size%block != 0 || block%page != 0 {
				continue
			}
			// SPIFFS_OBJ_LOOKUP_PAGES and SPIFFS_MAGIC_PADDR.
			lookupPages := max(1, (block/page)*2/page)
			at := lookupPages*page - 4
			blocks := size / block
			for _, withLength := range []bool{false, true} {
				if spiffsMagicAt(p, 0, block, at, page, blocks, withLength) &&
					(int64(len(p)) < block+at+2 || spiffsMagicAt(p, 1, block, at, page, blocks, withLength)) {
					return true
				}
			}
		}
	}
	return false
}

// spiffsMagicAt reports whether block bix of the image in p holds the
// SPIFFS magic at offset at of the block.
func spiffsMagicAt(p []byte, bix, block, at, page, blocks int64, withLength bool) bool {
	off := bix*block + at
	if int64(len(p)) < off+2 {
		return false
	}
	want := uint32(spiffsMagic) ^ uint32(page)
	if withLength {
		want ^= uint32(blocks - bix)
	}
	return binary.LittleEndian.Uint16(p[off:]) == uint16(want)
}
