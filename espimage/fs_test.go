package espimage

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// littlefsImage makes the start of a littlefs image whose superblock is in
// metadata block `in` (0 or 1): a revision count, a tag, the name.
func littlefsImage(blockSize, blocks, in int) []byte {
	img := bytes.Repeat([]byte{0xFF}, blockSize*blocks)
	b := img[in*blockSize:]
	binary.LittleEndian.PutUint32(b[0:], 1)                  // revision count
	binary.BigEndian.PutUint32(b[4:], 0x0ff00008^0xFFFFFFFF) // a tag; its value is not checked
	copy(b[8:], "littlefs")
	return img
}

// spiffsImage makes an empty SPIFFS image as SPIFFS_format leaves it: every
// block's object lookup area erased but for the magic at its end.
func spiffsImage(page, block, blocks int, withLength bool) []byte {
	img := bytes.Repeat([]byte{0xFF}, block*blocks)
	lookupPages := max(1, (block/page)*2/page)
	for bix := 0; bix < blocks; bix++ {
		m := uint32(spiffsMagic) ^ uint32(page)
		if withLength {
			m ^= uint32(blocks - bix)
		}
		binary.LittleEndian.PutUint16(img[bix*block+lookupPages*page-4:], uint16(m))
	}
	return img
}

func fatImage() []byte {
	img := make([]byte, 64<<10)
	copy(img, []byte{0xEB, 0x3C, 0x90})
	copy(img[3:], "MSDOS5.0")
	copy(img[54:], "FAT16   ")
	img[510], img[511] = 0x55, 0xAA
	return img
}

func TestDetectFilesystem(t *testing.T) {
	app, _ := Build(BuildOptions{Chip: ESP32, ProjectName: "x", Version: "1.0.0", Size: 64 << 10})
	tests := []struct {
		name string
		img  []byte
		want Filesystem
	}{
		{"littlefs, ESP8266 blocks, superblock in block 0", littlefsImage(8192, 16, 0), LittleFS},
		{"littlefs, ESP32 blocks, superblock in block 1", littlefsImage(4096, 16, 1), LittleFS},
		{"spiffs, ESP8266 core (no length in the magic)", spiffsImage(256, 8192, 16, false), SPIFFS},
		{"spiffs, ESP-IDF (length in the magic)", spiffsImage(256, 4096, 64, true), SPIFFS},
		{"spiffs, 64 KiB blocks", spiffsImage(256, 64<<10, 4, true), SPIFFS},
		{"fat", fatImage(), FAT},
		{"blank flash", bytes.Repeat([]byte{0xFF}, 64<<10), NoFilesystem},
		{"zeros", make([]byte, 64<<10), NoFilesystem},
		{"an application", app, NoFilesystem},
		{"empty", nil, NoFilesystem},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.img[:min(len(tt.img), fsPrefixLen)]
			if got := DetectFilesystem(p, int64(len(tt.img))); got != tt.want {
				t.Errorf("DetectFilesystem = %v, want %v", got, tt.want)
			}
			img, err := Scan(bytes.NewReader(tt.img), 1<<20)
			if err != nil || img.Filesystem != tt.want {
				t.Errorf("Scan: Filesystem %v, %v; want %v", img.Filesystem, err, tt.want)
			}
			if tt.want != NoFilesystem && img.Kind == KindApp {
				t.Errorf("a filesystem image scans as an application")
			}
		})
	}
	// A SPIFFS magic in block 0 alone, where block 1 disagrees, is chance.
	img := spiffsImage(256, 4096, 16, true)
	img[4096+252] ^= 0xFF
	if got := DetectFilesystem(img, int64(len(img))); got != NoFilesystem {
		t.Errorf("magic in block 0 only: %v, want none", got)
	}
}
