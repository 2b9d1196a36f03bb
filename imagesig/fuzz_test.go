package imagesig

import (
	"bytes"
	"errors"
	"testing"

	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/testsign"
)

// FuzzCheck feeds arbitrary files to every format's checker, with no key
// and with keys of every kind: Check must not panic, must say where the
// image is inside the file when it accepts one, and must not accept an
// image as signed by a key that did not sign it (random data never is).
func FuzzCheck(f *testing.F) {
	esp8266 := image(f, espimage.ESP8266, 1024)
	esp32 := image(f, espimage.ESP32C3, 0)
	seeds := [][]byte{
		testsign.ESP8266(f, testsign.RSA2048, esp8266),
		testsign.ESP8266Legacy(f, testsign.RSA2048, esp8266),
		testsign.SecureBootV2(f, esp32, testsign.RSA3072, testsign.P256, testsign.P384),
		testsign.FOTA(f, testsign.RSA4096, esp32),
		testsign.FOTA(f, testsign.RSA2048, esp32),
		esp8266, esp32, {}, {0xE9}, {0xE7, 2},
	}
	for i, s := range seeds {
		for fmt := range Formats() {
			f.Add(s, uint8(fmt), i%2 == 0)
		}
	}
	var keys []Key
	for _, k := range []testsign.Key{testsign.RSA2048, testsign.RSA3072, testsign.RSA4096, testsign.P256, testsign.P384} {
		keys = append(keys, key(f, k))
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint8, withKeys bool) {
		format := Formats()[int(which)%len(Formats())]
		var ks []Key
		if withKeys {
			ks = keys
		}
		s, err := Check(format, bytes.NewReader(data), int64(len(data)), ks)
		known := errors.Is(err, ErrUnsigned) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrUntrusted)
		if err != nil && !known {
			t.Fatalf("err = %v: a reader of exactly size bytes gives only the sentinel errors", err)
		}
		if err != nil {
			return
		}
		if s.ImageOffset < 0 || s.ImageSize <= 0 || s.ImageOffset+s.ImageSize > int64(len(data)) {
			t.Fatalf("image at %d+%d in a file of %d bytes", s.ImageOffset, s.ImageSize, len(data))
		}
		if len(s.Head) > espimage.HeaderLen || !bytes.Equal(s.Head, data[s.ImageOffset:s.ImageOffset+int64(len(s.Head))]) {
			t.Fatalf("Head is not the start of the image")
		}
		if withKeys && s.Key == "" {
			t.Fatal("accepted with keys but names none")
		}
	})
}

// FuzzSignatureSector parses arbitrary Secure Boot v2 signature sectors
// directly (FuzzCheck reaches them only behind a well-formed image): no
// panic, and every block it accepts has a digest, key and signature of
// the sizes its scheme uses.
func FuzzSignatureSector(f *testing.F) {
	signed := testsign.SecureBootV2(f, image(f, espimage.ESP32C3, 0), testsign.RSA3072, testsign.P256, testsign.P384)
	f.Add(signed[len(signed)-sectorSize:])
	f.Add([]byte{sigBlockMagic, sigVersionEC, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		sector := make([]byte, sectorSize)
		copy(sector, data)
		blocks, err := parseSignatureSector(sector, 0)
		if err != nil {
			return
		}
		for _, b := range blocks {
			want := map[string][3]int{ // digest, key, signature
				"RSA-PSS 3072": {32, 776, 384},
				"ECDSA P-192":  {32, 65, 48},
				"ECDSA P-256":  {32, 65, 64},
				"ECDSA P-384":  {48, 97, 96},
			}[b.scheme]
			if got := [3]int{len(b.digest), len(b.key), len(b.sig)}; got != want {
				t.Fatalf("%s block: digest, key, signature of %v bytes, want %v", b.scheme, got, want)
			}
		}
	})
}
