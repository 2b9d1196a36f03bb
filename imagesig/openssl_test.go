package imagesig

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/testsign"
)

// TestOpenSSLSignatures signs images with the very commands the formats'
// tools run: signing.py's `openssl dgst -sha256 -sign` and legacy
// `openssl rsautl -sign`, and esp32FOTA's README `openssl dgst -sign
// -sha256 -binary` followed by `cat firmware.sign firmware.bin`. So the
// verifier is checked against OpenSSL's output, not only against Go's
// signers.
func TestOpenSSLSignatures(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl not found: .ci/run installs it")
		}
		t.Skip("openssl not found: install it to check signatures made by the real tool commands")
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(stdin []byte, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Stdin = bytes.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("openssl %v: %v: %s", args, err, errOut.String())
		}
		return out.Bytes()
	}
	privPEM := func(k testsign.Key) string {
		der, err := x509.MarshalPKCS8PrivateKey(testsign.Private(t, k))
		if err != nil {
			t.Fatal(err)
		}
		return write(string(k)+".pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}

	img := image(t, espimage.ESP8266, 4000)
	rsa2048 := privPEM(testsign.RSA2048)
	lenWord := []byte{0x00, 0x01, 0x00, 0x00}

	t.Run("signing.py", func(t *testing.T) {
		sig := run(img, "dgst", "-sha256", "-sign", rsa2048)
		signed := append(append(bytes.Clone(img), sig...), lenWord...)
		s, err := check(ESP8266, signed, key(t, testsign.RSA2048))
		if err != nil || s.Key != "rsa2048" || s.ImageSize != int64(len(img)) {
			t.Fatalf("got %+v, %v", s, err)
		}
	})
	t.Run("signing.py legacy", func(t *testing.T) {
		digest := run(img, "dgst", "-sha256", "-binary")
		sig := run(digest, "pkeyutl", "-sign", "-inkey", rsa2048) // rsautl's successor, same padding
		signed := append(append(bytes.Clone(img), sig...), lenWord...)
		s, err := check(ESP8266, signed, key(t, testsign.RSA2048))
		if err != nil || s.Key != "rsa2048" {
			t.Fatalf("got %+v, %v", s, err)
		}
	})
	t.Run("esp32FOTA README", func(t *testing.T) {
		img32 := image(t, espimage.ESP32, 6000)
		fw := write("fw32.bin", img32)
		sign := filepath.Join(dir, "firmware.sign")
		run(nil, "dgst", "-sign", privPEM(testsign.RSA4096), "-keyform", "PEM", "-sha256", "-out", sign, "-binary", fw)
		sig, err := os.ReadFile(sign)
		if err != nil {
			t.Fatal(err)
		}
		s, err := check(ESP32FOTA, append(sig, img32...), key(t, testsign.RSA4096))
		if err != nil || s.Key != "rsa4096" || s.ImageOffset != 512 {
			t.Fatalf("got %+v, %v", s, err)
		}
	})
}
