package espimage

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func mustBuild(t testing.TB, opts BuildOptions) []byte {
	t.Helper()
	b, err := Build(opts)
	if err != nil {
		t.Fatalf("Build(%+v): %v", opts, err)
	}
	return b
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zlibbed(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// esp8266Signed appends a signature the way the ESP8266 signing tool
// does: the signature bytes, then their length as a little-endian uint32.
func esp8266Signed(img []byte, sigLen int) []byte {
	out := append([]byte(nil), img...)
	out = append(out, bytes.Repeat([]byte{0x5A}, sigLen)...)
	return binary.LittleEndian.AppendUint32(out, uint32(sigLen))
}

// imageEnd is where an image built by Build ends before its 0xFF padding:
// the checksum block, and the appended digest for the ESP32 family.
func imageEnd(t *testing.T, img []byte) int {
	t.Helper()
	end := len(img)
	for end > 0 && img[end-1] == 0xFF {
		end--
	}
	// The checksum or the digest may end in 0xFF too: round up to the
	// image's 16-byte blocks (the digest is 32 bytes, a multiple of 16).
	return (end + 15) &^ 15
}

func TestScan(t *testing.T) {
	esp32App := mustBuild(t, BuildOptions{Chip: ESP32C3, ProjectName: "lamp", Version: "1.2.0", Size: 8192})
	esp8266App := mustBuild(t, BuildOptions{Chip: ESP8266, ProjectName: "lamp", Version: "1.2.0", Size: 8192})
	arduino := mustBuild(t, BuildOptions{Chip: ESP8266, ProjectName: "lamp", Version: "1.2.0", Size: 16384, Arduino: true})
	boot := mustBuild(t, BuildOptions{Chip: ESP32S3, RAMOnly: true, NoDescriptor: true, Size: 4096})
	boot8266 := mustBuild(t, BuildOptions{Chip: ESP8266, RAMOnly: true})
	signature := bytes.Repeat([]byte{0xE9, 0x1F, 0x78, 0x00}, SignatureLen/4) // as unlucky as signatures get

	arduinoEnd := imageEnd(t, arduino)
	esp32End := imageEnd(t, esp32App)
	tests := []struct {
		name       string
		file       []byte
		enc        Encoding
		sig        int
		chip       Chip
		kind       Kind
		size       int
		flashedMD5 string
	}{
		{"esp32 app", esp32App, Raw, 0, ESP32C3, KindApp, len(esp32App), md5hex(esp32App[:esp32End])},
		{"esp32 app, gzip", gzipped(t, esp32App), Gzip, 0, ESP32C3, KindApp, len(esp32App), md5hex(esp32App[:esp32End])},
		{"esp32 app, zlib", zlibbed(t, esp32App), Zlib, 0, ESP32C3, KindApp, len(esp32App), md5hex(esp32App[:esp32End])},
		{"esp32FOTA signed", append(append([]byte(nil), signature...), esp32App...), Raw, SignatureLen, ESP32C3, KindApp, len(esp32App), md5hex(esp32App[:esp32End])},
		{"esp32FOTA signed, RSA-2048", append(append([]byte(nil), signature[:256]...), esp32App...), Raw, 256, ESP32C3, KindApp, len(esp32App), md5hex(esp32App[:esp32End])},
		{"esp8266 image without eboot: no sketch layout", esp8266App, Raw, 0, ESP8266, KindApp, len(esp8266App), ""},
		{"arduino esp8266", arduino, Raw, 0, ESP8266, KindApp, len(arduino), md5hex(arduino[:arduinoEnd])},
		{"arduino esp8266, gzip", gzipped(t, arduino), Gzip, 0, ESP8266, KindApp, len(arduino), md5hex(arduino[:arduinoEnd])},
		{"arduino esp8266, signed", esp8266Signed(arduino[:arduinoEnd], 256), Raw, 0, ESP8266, KindApp, arduinoEnd + 260, md5hex(arduino[:arduinoEnd])},
		{"esp32 bootloader", boot, Raw, 0, ESP32S3, KindRAMOnly, len(boot), md5hex(boot[:imageEnd(t, boot)])},
		{"esp8266 bootloader", boot8266, Raw, 0, ESP8266, KindRAMOnly, len(boot8266), ""},
		{"bootloader, gzip", gzipped(t, boot), Gzip, 0, ESP32S3, KindRAMOnly, len(boot), md5hex(boot[:imageEnd(t, boot)])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Scan(bytes.NewReader(tt.file), 1<<20)
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			info, perr := img.Info()
			if perr != nil {
				t.Fatalf("Info: %v", perr)
			}
			if img.Encoding != tt.enc || img.SignatureLen != tt.sig || info.Chip != tt.chip || img.Kind != tt.kind {
				t.Errorf("got %v sig %d %s %v, want %v sig %d %s %v", img.Encoding, img.SignatureLen, info.Chip, img.Kind, tt.enc, tt.sig, tt.chip, tt.kind)
			}
			if img.Size != int64(tt.size) {
				t.Errorf("Size = %d, want %d", img.Size, tt.size)
			}
			if img.FlashedMD5 != tt.flashedMD5 {
				t.Errorf("FlashedMD5 = %q, want %q (SketchLen %d)", img.FlashedMD5, tt.flashedMD5, img.SketchLen)
			}
			if img.Problem != "" {
				t.Errorf("Problem = %q, want none", img.Problem)
			}
			if info.App == nil && tt.chip != ESP8266 && tt.kind == KindApp {
				t.Errorf("no app descriptor read from the image's head")
			}
		})
	}
}

func TestScanFlashedMD5IsWhatTheDeviceHashes(t *testing.T) {
	// The ESP8266 core hashes flash from 0 to the end of the application
	// that follows eboot (Esp.cpp getSketchSize, getSketchMD5); compute
	// that independently of Scan, from the segment table.
	img := mustBuild(t, BuildOptions{Chip: ESP8266, ProjectName: "x", Version: "2.0.0", Size: 12000, Arduino: true})
	pos := uint32(arduinoAppOffset) + 8
	for range int(img[arduinoAppOffset+1]) {
		pos += 8 + binary.LittleEndian.Uint32(img[pos+4:])
	}
	want := md5hex(img[:(pos+16)&^15])
	got, err := Scan(bytes.NewReader(esp8266Signed(img, 64)), 1<<20)
	if err != nil || got.FlashedMD5 != want {
		t.Errorf("FlashedMD5 = %q, %v; want %q", got.FlashedMD5, err, want)
	}
}

func TestScanProblems(t *testing.T) {
	app := mustBuild(t, BuildOptions{Chip: ESP32, ProjectName: "p", Version: "1.0.0", Size: 4096})
	corrupt := gzipped(t, app)
	corrupt[len(corrupt)-6] ^= 0xFF // the CRC
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"truncated image", app[:2000], "truncated"},
		{"damaged gzip", corrupt, "gzip"},
		{"gzip of nothing", gzipped(t, nil), ""},
		{"segment past the end", append(append([]byte(nil), app[:40]...), bytes.Repeat([]byte{0}, 8)...), "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Scan(bytes.NewReader(tt.file), 1<<20)
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if tt.want == "" {
				if _, err := img.Info(); err == nil {
					t.Errorf("Info() accepts it")
				}
				return
			}
			if !strings.Contains(img.Problem, tt.want) {
				t.Errorf("Problem = %q, want it to mention %q", img.Problem, tt.want)
			}
			if img.FlashedMD5 != "" {
				t.Errorf("FlashedMD5 = %q for a broken image", img.FlashedMD5)
			}
		})
	}
}

func TestScanZipBomb(t *testing.T) {
	app := mustBuild(t, BuildOptions{Chip: ESP8266, ProjectName: "p", Version: "1.0.0", Arduino: true})
	// 64 MiB of zeros after the image compress to some 64 KiB.
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(app)
	zeros := make([]byte, 1<<20)
	for range 64 {
		zw.Write(zeros)
	}
	zw.Close()
	const limit = 1 << 20
	img, err := Scan(bytes.NewReader(buf.Bytes()), limit)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if !strings.Contains(img.Problem, ErrTooLarge.Error()) {
		t.Errorf("Problem = %q, want %q", img.Problem, ErrTooLarge)
	}
	if img.Size > limit {
		t.Errorf("inflated %d bytes, more than the %d limit", img.Size, limit)
	}
	// Exactly at the limit is fine.
	at, err := Scan(bytes.NewReader(gzipped(t, make([]byte, limit))), limit)
	if err != nil || at.Problem != "" || at.Size != limit {
		t.Errorf("content of exactly the limit: Size %d, Problem %q, %v", at.Size, at.Problem, err)
	}
}

func TestScanReadsToTheEnd(t *testing.T) {
	app := gzipped(t, mustBuild(t, BuildOptions{Chip: ESP32, ProjectName: "p", Version: "1.0.0"}))
	file := append(app, []byte("trailing bytes after the gzip member")...)
	var seen bytes.Buffer
	if _, err := Scan(io.TeeReader(iotest.OneByteReader(bytes.NewReader(file)), &seen), 1<<20); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(seen.Bytes(), file) {
		t.Errorf("Scan read %d of %d bytes", seen.Len(), len(file))
	}
}

func TestScanReadError(t *testing.T) {
	app := gzipped(t, mustBuild(t, BuildOptions{Chip: ESP32, ProjectName: "p", Version: "1.0.0", Size: 65536}))
	boom := errors.New("disk on fire")
	_, err := Scan(io.MultiReader(bytes.NewReader(app[:len(app)/2]), iotest.ErrReader(boom)), 1<<20)
	if !errors.Is(err, boom) {
		t.Errorf("Scan = %v, want the reader's error", err)
	}
}

func TestParseCompressedPrefix(t *testing.T) {
	for _, p := range [][]byte{{0x1F, 0x8B, 0x08, 0}, {0x78, 0x9C}, {0x78, 0xDA}, {0x78, 0x01}} {
		info, err := Parse(p)
		if err != nil || !info.Compressed || info.Chip != "" {
			t.Errorf("Parse(% x) = %+v, %v; want compressed, chip unknown", p, info, err)
		}
	}
	for _, p := range [][]byte{{0x1F, 0x00}, {0x78, 0x00}, {0x78, 0xBB}} {
		if _, err := Parse(p); !errors.Is(err, ErrBadMagic) {
			t.Errorf("Parse(% x) = %v, want ErrBadMagic", p, err)
		}
	}
}
