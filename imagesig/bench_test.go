package imagesig

import (
	"bytes"
	"testing"

	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/testsign"
)

// BenchmarkCheck verifies 1 MiB images in each format: what a sync pays,
// once per new binary, before a commit is served.
func BenchmarkCheck(b *testing.B) {
	esp8266 := image(b, espimage.ESP8266, 1<<20)
	esp32 := image(b, espimage.ESP32S3, 1<<20-4096)
	for _, tc := range []struct {
		name   string
		format Format
		data   []byte
		key    testsign.Key
	}{
		{"esp8266-rsa2048", ESP8266, testsign.ESP8266(b, testsign.RSA2048, esp8266), testsign.RSA2048},
		{"secure-boot-v2-rsa3072", SecureBootV2, testsign.SecureBootV2(b, esp32, testsign.RSA3072), testsign.RSA3072},
		{"secure-boot-v2-p256", SecureBootV2, testsign.SecureBootV2(b, esp32, testsign.P256), testsign.P256},
		{"esp32fota-rsa4096", ESP32FOTA, testsign.FOTA(b, testsign.RSA4096, esp32), testsign.RSA4096},
	} {
		k := key(b, tc.key)
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.data)))
			for b.Loop() {
				if _, err := Check(tc.format, bytes.NewReader(tc.data), int64(len(tc.data)), []Key{k}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
