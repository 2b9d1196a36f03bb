package espimage

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func buildImage(t *testing.T, chip Chip) []byte {
	t.Helper()
	img, err := Build(BuildOptions{Chip: chip, ProjectName: "lamp", Version: "1.0.0", Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestReadFile(t *testing.T) {
	esp8266 := buildImage(t, ESP8266)
	esp32 := buildImage(t, ESP32)
	unknownID := bytes.Clone(esp32)
	binary.LittleEndian.PutUint16(unknownID[12:], 99)
	tests := []struct {
		name     string
		data     []byte
		limit    int64
		wantChip Chip
		wantGzip bool
		wantErr  string // "" for none; the file's base name is "f.bin"
	}{
		{name: "esp8266", data: esp8266, wantChip: ESP8266},
		{name: "esp32", data: esp32, wantChip: ESP32},
		{name: "gzip esp8266", data: gzipped(t, esp8266), wantChip: ESP8266, wantGzip: true},
		{name: "unknown chip id", data: unknownID, wantChip: ""},
		{name: "not an image", data: []byte("# readme"),
			wantErr: "f.bin is not an ESP application image: first byte 0x23: espimage: not a firmware image (bad magic)"},
		{name: "gzip esp32 (esp32FOTA)", data: gzipped(t, esp32), wantChip: ESP32, wantGzip: true},
		{name: "zlib esp32 (esp32FOTA)", data: zlibbed(t, esp32), wantChip: ESP32},
		{name: "esp32FOTA signed", data: append(bytes.Repeat([]byte{7}, SignatureLen), esp32...), wantChip: ESP32},
		{name: "bootloader", data: mustBuild(t, BuildOptions{Chip: ESP32, RAMOnly: true}),
			wantErr: "f.bin is not an application image: none of its segments loads into flash"},
		{name: "gzip of something else", data: gzipped(t, []byte("# readme")),
			wantErr: "f.bin is not an ESP application image inside gzip: first byte 0x23"},
		{name: "broken gzip", data: gzipped(t, esp8266)[:20],
			wantErr: "f.bin is not an ESP application image: a gzip file that does not decompress: "},
		{name: "too large", data: esp8266, limit: 4095, wantErr: "f.bin: larger than the 4095 bytes allowed"},
		{name: "decompresses to too much", data: gzipped(t, append(bytes.Clone(esp8266), make([]byte, 1<<20)...)), limit: 1 << 19,
			wantErr: "f.bin is not an ESP application image: a gzip file that does not decompress: larger than the 524288 bytes allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "f.bin")
			if err := os.WriteFile(file, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			limit := tt.limit
			if limit == 0 {
				limit = 1 << 20
			}
			img, err := ReadFile(file, limit)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""), tt.wantErr) {
					t.Fatalf("got error %v, want one starting %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if img.Name != file || !bytes.Equal(img.Data, tt.data) || img.Info.Chip != tt.wantChip || img.Gzip != tt.wantGzip {
				t.Errorf("got name %q, %d bytes, chip %q, gzip %v; want %q, %d bytes, chip %q, gzip %v",
					img.Name, len(img.Data), img.Info.Chip, img.Gzip, file, len(tt.data), tt.wantChip, tt.wantGzip)
			}
			if img.Info.Chip != "" && img.Content[0] != 0xE9 {
				t.Errorf("Content is not the image inside")
			}
		})
	}
}

func TestReadFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadFile(dir, 1<<20); err == nil || err.Error() != dir+" is not a regular file" {
		t.Errorf("got %v", err)
	}
}

func TestInfoFits(t *testing.T) {
	tests := []struct {
		info Info
		chip Chip
		want bool
	}{
		{Info{Chip: ESP8266}, ESP8266, true},
		{Info{Chip: ESP8266}, ESP32, false},
		{Info{Chip: ESP32C3}, ESP32C3, true},
		{Info{Chip: ESP32C3}, ESP32, false},
		{Info{ChipID: 99}, ESP32S3, true}, // unknown chip id: any ESP32-family chip
		{Info{ChipID: 99}, ESP8266, false},
	}
	for _, tt := range tests {
		if got := tt.info.Fits(tt.chip); got != tt.want {
			t.Errorf("%s (chip id %d) fits %s: got %v, want %v", tt.info.ChipName(), tt.info.ChipID, tt.chip, got, tt.want)
		}
	}
	if got, want := (Info{ChipID: 0x63}).ChipName(), "an ESP32-family chip with chip id 0x0063 (unknown to otagit)"; got != want {
		t.Errorf("ChipName: got %q, want %q", got, want)
	}
}

func TestWebToolsFamily(t *testing.T) {
	// As ESPHome's VARIANT_FRIENDLY (components/esp32/const.py) and
	// esp8266 component name them.
	for chip, want := range map[Chip]string{
		ESP8266: "ESP8266", ESP32: "ESP32", ESP32S2: "ESP32-S2", ESP32S3: "ESP32-S3",
		ESP32C2: "ESP32-C2", ESP32C3: "ESP32-C3", ESP32C6: "ESP32-C6", ESP32H2: "ESP32-H2",
		ESP32C5: "ESP32-C5", ESP32C61: "ESP32-C61", ESP32P4: "ESP32-P4", "esp31": "",
	} {
		if got := chip.WebToolsFamily(); got != want {
			t.Errorf("%s: WebToolsFamily() = %q, want %q", chip, got, want)
		}
	}
}
