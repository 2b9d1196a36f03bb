// Package testsign signs firmware images for tests the way the real tools
// do, so that tests of the verifier (package imagesig) and of everything
// that uses it run against the real formats. It is written from the
// tools' own source, not from imagesig, so that a misreading in one does
// not hide in both:
//
//   - ESP8266: esp8266/Arduino tools/signing.py (sign_and_write: `openssl
//     dgst -sha256 -sign`, then the image, the signature and
//     b'\x00\x01\x00\x00'; sign_and_write_legacy: `openssl rsautl -sign`
//     of the bare SHA-256 digest).
//   - ESP32 Secure Boot v2: esptool espsecure sign_secure_boot_v2 and
//     generate_signature_block_using_private_key (pad to 4 KiB with 0xFF,
//     1216-byte blocks, RSA-PSS or ECDSA over the SHA-256 or SHA-384 of
//     the padded image, little-endian numbers, CRC-32, 0xFF to the end of
//     the sector).
//   - esp32FOTA: its README (`openssl dgst -sign priv_key.pem -sha256`,
//     then `cat firmware.sign firmware.bin`).
package testsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"hash/crc32"
	"math/big"
	"strings"
	"testing"
)

// Key names a test key.
type Key string

// The test keys.
const (
	RSA2048  Key = "rsa2048"
	RSA2048B Key = "rsa2048b"
	RSA3072  Key = "rsa3072"
	RSA4096  Key = "rsa4096"
	P256     Key = "p256"
	P384     Key = "p384"
)

var pems = map[Key]string{
	RSA2048: pemRSA2048, RSA2048B: pemRSA2048B, RSA3072: pemRSA3072,
	RSA4096: pemRSA4096, P256: pemP256, P384: pemP384,
}

// Private returns the private key k.
func Private(t testing.TB, k Key) crypto.Signer {
	t.Helper()
	text, ok := pems[k]
	if !ok {
		t.Fatalf("testsign: no key %q", k)
	}
	block, _ := pem.Decode([]byte(strings.ReplaceAll(text, "TESTING KEY", "PRIVATE KEY")))
	if block == nil {
		t.Fatalf("testsign: key %q: no PEM block", k)
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		err = fmt.Errorf("PEM type %q", block.Type)
	}
	if err != nil {
		t.Fatalf("testsign: key %q: %v", k, err)
	}
	return key.(crypto.Signer)
}

// PublicPEM returns the public half of k as `openssl pkey -pubout` writes
// it (a PKIX "PUBLIC KEY" block).
func PublicPEM(t testing.TB, k Key) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(Private(t, k).Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ESP8266 returns image signed as signing.py's sign_and_write does: the
// image, the PKCS#1 v1.5 SHA-256 signature, and the length word, which
// signing.py always writes as 256.
func ESP8266(t testing.TB, k Key, image []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(image)
	sig, err := rsa.SignPKCS1v15(nil, Private(t, k).(*rsa.PrivateKey), crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return ESP8266Trailer(image, sig, 256)
}

// ESP8266Legacy returns image signed as signing.py's sign_and_write_legacy
// does for older cores: `openssl rsautl -sign` pads the bare digest,
// without the DigestInfo that names the hash.
func ESP8266Legacy(t testing.TB, k Key, image []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(image)
	sig, err := rsa.SignPKCS1v15(nil, Private(t, k).(*rsa.PrivateKey), crypto.Hash(0), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return ESP8266Trailer(image, sig, 256)
}

// ESP8266Trailer appends sig and the length word sigLen to image, for
// tests that need a trailer signing.py would not write.
func ESP8266Trailer(image, sig []byte, sigLen uint32) []byte {
	out := append(append([]byte{}, image...), sig...)
	return binary.LittleEndian.AppendUint32(out, sigLen)
}

// FOTA returns image signed as esp32FOTA's README says: the signature of
// `openssl dgst -sign -sha256` (PKCS#1 v1.5), then the image.
func FOTA(t testing.TB, k Key, image []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(image)
	sig, err := rsa.SignPKCS1v15(nil, Private(t, k).(*rsa.PrivateKey), crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return append(sig, image...)
}

// Secure Boot v2 constants (espsecure).
const (
	sectorSize   = 4096
	sigBlockSize = 1216
	sigMagic     = 0xE7
	versionRSA   = 0x02
	versionECDSA = 0x03
)

// SecureBootV2 returns image signed as `espsecure sign_data --version 2`
// does with one signature block per key (at most 3): image padded with
// 0xFF to a 4 KiB boundary, then a 4 KiB signature sector.
func SecureBootV2(t testing.TB, image []byte, keys ...Key) []byte {
	t.Helper()
	contents := PadSector(image)
	var sector []byte
	for _, k := range keys {
		sector = append(sector, SecureBootV2Block(t, k, contents)...)
	}
	for len(sector) < sectorSize {
		sector = append(sector, 0xFF)
	}
	return append(contents, sector...)
}

// PadSector pads image with 0xFF to a multiple of 4 KiB, as espsecure
// does before signing.
func PadSector(image []byte) []byte {
	out := append([]byte{}, image...)
	for len(out)%sectorSize != 0 {
		out = append(out, 0xFF)
	}
	return out
}

// SecureBootV2Block returns the 1216-byte signature block key k makes for
// contents (already padded).
func SecureBootV2Block(t testing.TB, k Key, contents []byte) []byte {
	t.Helper()
	var block []byte
	switch key := Private(t, k).(type) {
	case *rsa.PrivateKey:
		digest := sha256.Sum256(contents)
		sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: 32})
		if err != nil {
			t.Fatal(err)
		}
		// struct.pack("<BBxx32s384sI384sI384s", magic, version, digest,
		// n[::-1], e, rinv[::-1], m & 0xFFFFFFFF, signature[::-1])
		block = append(block, sigMagic, versionRSA, 0, 0)
		block = append(block, digest[:]...)
		block = append(block, SecureBootV2RSAKey(&key.PublicKey)...)
		block = append(block, reversed(sig)...)
	case *ecdsa.PrivateKey:
		var digest []byte
		var shaVersion byte
		curveID, n := byte(2), 32
		if key.Curve.Params().BitSize == 384 {
			s := sha512.Sum384(contents)
			digest, shaVersion, curveID, n = s[:], 1, 3, 48
		} else {
			s := sha256.Sum256(contents)
			digest = s[:]
		}
		r, s, err := ecdsa.Sign(rand.Reader, key, digest)
		if err != nil {
			t.Fatal(err)
		}
		// "<BBBx32sB64s64s1031x" or "<BBBx48sB96s96s951x"
		block = append(block, sigMagic, versionECDSA, shaVersion, 0)
		block = append(block, digest...)
		block = append(block, curveID)
		block = append(block, littleEndian(key.X, n)...)
		block = append(block, littleEndian(key.Y, n)...)
		block = append(block, littleEndian(r, n)...)
		block = append(block, littleEndian(s, n)...)
	default:
		t.Fatalf("testsign: key %q cannot sign Secure Boot v2 blocks", k)
	}
	for len(block) < 1196 {
		block = append(block, 0)
	}
	block = binary.LittleEndian.AppendUint32(block, crc32.ChecksumIEEE(block))
	return append(block, make([]byte, sigBlockSize-len(block))...) // 16 bytes of zero padding
}

// SecureBootV2RSAKey returns the 776 bytes espsecure writes for an RSA
// public key in a signature block: n, e, R^2 mod n and -1/n mod 2^32, as
// _get_sbv2_rsa_primitives computes them, numbers little-endian.
func SecureBootV2RSAKey(pub *rsa.PublicKey) []byte {
	n := pub.N
	bits := n.BitLen()
	rr := new(big.Int).Lsh(big.NewInt(1), uint(2*bits))
	rinv := new(big.Int).Mod(rr, n)
	two32 := new(big.Int).Lsh(big.NewInt(1), 32)
	inv := new(big.Int).ModInverse(new(big.Int).Mod(n, two32), two32)
	m := new(big.Int).Sub(two32, inv)
	m.Mod(m, two32)
	var out []byte
	out = append(out, littleEndian(n, 384)...)
	out = binary.LittleEndian.AppendUint32(out, uint32(pub.E))
	out = append(out, littleEndian(rinv, 384)...)
	out = binary.LittleEndian.AppendUint32(out, uint32(m.Uint64()))
	return out
}

// littleEndian returns x as n little-endian bytes.
func littleEndian(x *big.Int, n int) []byte {
	return reversed(x.FillBytes(make([]byte, n)))
}

func reversed(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[len(b)-1-i] = c
	}
	return out
}
