package imagesig

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/testsign"
)

func image(t testing.TB, chip espimage.Chip, size int) []byte {
	t.Helper()
	b, err := espimage.Build(espimage.BuildOptions{Chip: chip, ProjectName: "lamp", Version: "1.2.0", Size: size})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func key(t testing.TB, k testsign.Key) Key {
	t.Helper()
	got, err := ParseKey(string(k), testsign.PublicPEM(t, k))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func check(f Format, data []byte, keys ...Key) (*Signed, error) {
	return Check(f, bytes.NewReader(data), int64(len(data)), keys)
}

// flip returns a copy of b with byte i changed.
func flip(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0x01
	return out
}

func wantErr(t *testing.T, err, want error, text string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("err = %q, want it to say %q", err, text)
	}
}

func TestESP8266(t *testing.T) {
	img := image(t, espimage.ESP8266, 3000)
	rsa2048 := key(t, testsign.RSA2048)
	signed := testsign.ESP8266(t, testsign.RSA2048, img)

	s, err := check(ESP8266, signed, key(t, testsign.RSA2048B), rsa2048)
	if err != nil {
		t.Fatal(err)
	}
	if s.Key != "rsa2048" || s.ImageOffset != 0 || s.ImageSize != int64(len(img)) {
		t.Errorf("got key %q, image %d+%d; want rsa2048, 0+%d", s.Key, s.ImageOffset, s.ImageSize, len(img))
	}
	if !bytes.Equal(s.Head, img[:espimage.HeaderLen]) {
		t.Error("Head is not the image's first bytes")
	}
	if got := s.Signatures; len(got) != 1 || got[0].Len != 256 || got[0].Scheme != "RSA PKCS#1 v1.5 SHA-256" {
		t.Errorf("signatures = %+v", got)
	}

	t.Run("legacy", func(t *testing.T) {
		s, err := check(ESP8266, testsign.ESP8266Legacy(t, testsign.RSA2048, img), rsa2048)
		if err != nil {
			t.Fatal(err)
		}
		if s.Key != "rsa2048" || !strings.Contains(s.Signatures[0].Scheme, "legacy") {
			t.Errorf("got %q %q, want rsa2048 and a legacy scheme", s.Key, s.Signatures[0].Scheme)
		}
	})
	t.Run("format only", func(t *testing.T) {
		s, err := check(ESP8266, signed)
		if err != nil || s.Key != "" || s.ImageSize != int64(len(img)) {
			t.Fatalf("got %+v, %v", s, err)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		_, err := check(ESP8266, img, rsa2048)
		wantErr(t, err, ErrUnsigned, "no signature trailer")
	})
	t.Run("another key", func(t *testing.T) {
		_, err := check(ESP8266, signed, key(t, testsign.RSA2048B))
		wantErr(t, err, ErrUntrusted, `does not verify with key "rsa2048b"`)
	})
	t.Run("key of another size", func(t *testing.T) {
		_, err := check(ESP8266, signed, key(t, testsign.RSA3072))
		wantErr(t, err, ErrUntrusted, "makes 384-byte signatures")
	})
	t.Run("image changed after signing", func(t *testing.T) {
		_, err := check(ESP8266, flip(signed, 100), rsa2048)
		wantErr(t, err, ErrUntrusted, "does not verify")
	})
	t.Run("ECDSA key", func(t *testing.T) {
		_, err := check(ESP8266, signed, key(t, testsign.P256))
		wantErr(t, err, ErrUntrusted, "none of the keys")
	})
	t.Run("length word longer than the file", func(t *testing.T) {
		_, err := check(ESP8266, testsign.ESP8266Trailer([]byte{0xE9}, nil, 256))
		wantErr(t, err, ErrUnsigned, "no signature trailer")
	})
	t.Run("short reader", func(t *testing.T) {
		_, err := Check(ESP8266, bytes.NewReader(signed[:1000]), int64(len(signed)), nil)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("err = %v, want io.ErrUnexpectedEOF", err)
		}
	})
}

func TestSecureBootV2(t *testing.T) {
	img := image(t, espimage.ESP32S3, 0)
	rsa3072, p256, p384 := key(t, testsign.RSA3072), key(t, testsign.P256), key(t, testsign.P384)
	for _, tc := range []struct {
		k      testsign.Key
		key    Key
		scheme string
	}{
		{testsign.RSA3072, rsa3072, "RSA-PSS 3072"},
		{testsign.P256, p256, "ECDSA P-256"},
		{testsign.P384, p384, "ECDSA P-384"},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			signed := testsign.SecureBootV2(t, img, tc.k)
			if len(signed)%4096 != 0 {
				t.Fatalf("signed image of %d bytes", len(signed))
			}
			s, err := check(SecureBootV2, signed, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if s.Key != tc.key.Name || s.ImageSize != int64(len(signed)) || len(s.Signatures) != 1 || s.Signatures[0].Scheme != tc.scheme {
				t.Errorf("got %+v", s)
			}
			if got, want := s.Signatures[0].KeyDigest, espsecureDigest(t, tc.k); got != want {
				t.Errorf("key digest %s, want %s", got, want)
			}
			if _, err := check(SecureBootV2, signed); err != nil {
				t.Errorf("format only: %v", err)
			}
		})
	}

	signed := testsign.SecureBootV2(t, img, testsign.RSA3072, testsign.P256)
	t.Run("second of two blocks", func(t *testing.T) {
		s, err := check(SecureBootV2, signed, p256)
		if err != nil || s.Key != "p256" || len(s.Signatures) != 2 {
			t.Fatalf("got %+v, %v", s, err)
		}
	})
	t.Run("no trusted signer", func(t *testing.T) {
		s, err := check(SecureBootV2, signed, p384)
		wantErr(t, err, ErrUntrusted, "key digest "+espsecureDigest(t, testsign.RSA3072))
		if s == nil || len(s.Signatures) != 2 {
			t.Errorf("signed = %+v, want both blocks described", s)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		_, err := check(SecureBootV2, img, rsa3072)
		wantErr(t, err, ErrUnsigned, "no 4 KiB signature sector")
		_, err = check(SecureBootV2, testsign.PadSector(append(testsign.PadSector(img), 0xFF)), rsa3072)
		wantErr(t, err, ErrUnsigned, "no signature block")
	})
	sector := len(signed) - 4096
	t.Run("damaged block", func(t *testing.T) {
		_, err := check(SecureBootV2, flip(signed, sector+100), rsa3072)
		wantErr(t, err, ErrUntrusted, "") // block 0 skipped; block 1 is p256
		bad := flip(flip(signed, sector+100), sector+1216+100)
		_, err = check(SecureBootV2, bad, rsa3072)
		wantErr(t, err, ErrMalformed, "CRC-32")
	})
	t.Run("image changed after signing", func(t *testing.T) {
		_, err := check(SecureBootV2, flip(signed, 200), rsa3072)
		wantErr(t, err, ErrMalformed, "signs an image with digest")
	})
	t.Run("signature forged with a good CRC", func(t *testing.T) {
		bad := bytes.Clone(signed)
		bad[sector+900] ^= 1 // in the RSA signature
		binary.LittleEndian.PutUint32(bad[sector+1196:], crc32.ChecksumIEEE(bad[sector:sector+1196]))
		_, err := check(SecureBootV2, bad, rsa3072)
		wantErr(t, err, ErrUntrusted, `names key "rsa3072" but its signature does not verify`)
	})
	t.Run("not an image", func(t *testing.T) {
		_, err := check(SecureBootV2, make([]byte, 8192), rsa3072)
		wantErr(t, err, ErrMalformed, "not an ESP32 image")
	})
	t.Run("segment past the end", func(t *testing.T) {
		bad := bytes.Clone(signed)
		binary.LittleEndian.PutUint32(bad[24+4:], 1<<30)
		_, err := check(SecureBootV2, bad, rsa3072)
		wantErr(t, err, ErrMalformed, "runs past the end")
	})
	t.Run("RSA-2048 key", func(t *testing.T) {
		_, err := check(SecureBootV2, signed, key(t, testsign.RSA2048))
		wantErr(t, err, ErrUntrusted, "none of the keys")
	})
}

// espsecureDigest computes what `espsecure digest_sbv2_public_key` prints
// for k, from testsign's encoding (written from espsecure's source).
func espsecureDigest(t testing.TB, k testsign.Key) string {
	t.Helper()
	var enc []byte
	switch p := testsign.Private(t, k).Public().(type) {
	case *rsa.PublicKey:
		enc = testsign.SecureBootV2RSAKey(p)
	case *ecdsa.PublicKey:
		n := (p.Curve.Params().BitSize + 7) / 8
		id := byte(2)
		if n == 48 {
			id = 3
		}
		enc = append([]byte{id}, reverse(p.X.FillBytes(make([]byte, n)))...)
		enc = append(enc, reverse(p.Y.FillBytes(make([]byte, n)))...)
	}
	sum := sha256.Sum256(enc)
	return hex.EncodeToString(sum[:])
}

func reverse(b []byte) []byte { return reversed(b) }

func TestESP32FOTA(t *testing.T) {
	img := image(t, espimage.ESP32, 5000)
	rsa4096 := key(t, testsign.RSA4096)
	signed := testsign.FOTA(t, testsign.RSA4096, img)

	s, err := check(ESP32FOTA, signed, rsa4096)
	if err != nil {
		t.Fatal(err)
	}
	if s.Key != "rsa4096" || s.ImageOffset != 512 || s.ImageSize != int64(len(img)) || !bytes.Equal(s.Head, img[:espimage.HeaderLen]) {
		t.Errorf("got key %q, image %d+%d", s.Key, s.ImageOffset, s.ImageSize)
	}
	t.Run("setSignatureLen(256)", func(t *testing.T) {
		s, err := check(ESP32FOTA, testsign.FOTA(t, testsign.RSA2048, img), rsa4096, key(t, testsign.RSA2048))
		if err != nil || s.Key != "rsa2048" || s.ImageOffset != 256 {
			t.Fatalf("got %+v, %v", s, err)
		}
	})
	t.Run("format only", func(t *testing.T) {
		s, err := check(ESP32FOTA, signed)
		if err != nil || s.ImageOffset != 512 {
			t.Fatalf("got %+v, %v", s, err)
		}
		if n, ok := espimage.SignedImageOffset(signed[:1024]); !ok || n != 512 {
			t.Errorf("SignedImageOffset = %d, %v", n, ok)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		_, err := check(ESP32FOTA, img, rsa4096)
		wantErr(t, err, ErrUnsigned, "starts with an image header")
	})
	t.Run("another key", func(t *testing.T) {
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		_, err = check(ESP32FOTA, signed, mustKey(t, "other", &other.PublicKey))
		wantErr(t, err, ErrUntrusted, "makes 256-byte signatures")
	})
	t.Run("image changed after signing", func(t *testing.T) {
		_, err := check(ESP32FOTA, flip(signed, 2000), rsa4096)
		wantErr(t, err, ErrUntrusted, `does not verify with key "rsa4096"`)
	})
	t.Run("garbage", func(t *testing.T) {
		_, err := check(ESP32FOTA, bytes.Repeat([]byte{7}, 2000))
		wantErr(t, err, ErrMalformed, "no image header")
	})
}

func mustKey(t testing.TB, name string, pub any) Key {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(name, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKey(t *testing.T) {
	rsaPub := testsign.Private(t, testsign.RSA2048).Public().(*rsa.PublicKey)
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(testsign.Private(t, testsign.P256))
	if err != nil {
		t.Fatal(err)
	}
	pkix := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	for _, tc := range []struct {
		name, text string
		data       []byte
		want       string // Describe, or the error's text
	}{
		{"pkix RSA", "lamp", testsign.PublicPEM(t, testsign.RSA2048), "RSA-2048"},
		{"pkcs1 RSA", "lamp", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rsaPub)}), "RSA-2048"},
		{"P-384", "k.1_a-b", testsign.PublicPEM(t, testsign.P384), "ECDSA P-384"},
		{"private key", "lamp", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), "is a private key"},
		{"P-521", "lamp", pkix(&p521.PublicKey), "use P-256 or P-384"},
		{"two blocks", "lamp", append(testsign.PublicPEM(t, testsign.P256), testsign.PublicPEM(t, testsign.P384)...), "more than one PEM block"},
		{"no PEM", "lamp", []byte("ssh-rsa AAAA"), "no PEM block"},
		{"bad name", "../x", testsign.PublicPEM(t, testsign.P256), "key name"},
		{"certificate", "lamp", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), "not a public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKey(tc.text, tc.data)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = k.Describe()
				if k.Name != tc.text || len(k.ID()) != 64 {
					t.Errorf("name %q id %q", k.Name, k.ID())
				}
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFits(t *testing.T) {
	keys := map[testsign.Key]string{
		testsign.RSA2048: "esp8266 esp32fota",
		testsign.RSA3072: "esp8266 secure-boot-v2 esp32fota",
		testsign.RSA4096: "esp8266 esp32fota",
		testsign.P256:    "secure-boot-v2",
		testsign.P384:    "secure-boot-v2",
	}
	for k, want := range keys {
		var got []string
		for _, f := range Formats() {
			if key(t, k).Fits(f) == nil {
				got = append(got, string(f))
			}
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s fits %q, want %q", k, got, want)
		}
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("lamp.pem", testsign.PublicPEM(t, testsign.RSA2048))
	write("sensor-2026.pem", testsign.PublicPEM(t, testsign.P256))
	write("README", []byte("not a key"))
	if err := os.Mkdir(filepath.Join(dir, "old.pem"), 0o755); err != nil {
		t.Fatal(err)
	}
	kr, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(kr.Names(), ","); got != "lamp,sensor-2026" {
		t.Errorf("names %q", got)
	}
	if k, ok := kr.Get("sensor-2026"); !ok || k.Describe() != "ECDSA P-256" {
		t.Errorf("sensor-2026 = %v, %v", k, ok)
	}
	write("broken.pem", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "broken.pem") {
		t.Errorf("err = %v, want one naming broken.pem", err)
	}
	if _, err := LoadDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing directory loads")
	}
	var empty *Keyring
	if empty.Len() != 0 || empty.Names() != nil {
		t.Error("a nil keyring is not empty")
	}
}
