package imagesig

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusEnv names the directory of real firmware images (its MANIFEST.tsv
// lists them); the corpus test skips without it.
const corpusEnv = "OTAGIT_FW_CORPUS"

// TestCorpus checks the real images of the firmware corpus: esptool's
// Secure Boot v2 signed images verify (with the key their own block
// holds: what matters here is that otagit reads espsecure's output as
// the device does), every other application image is unsigned in every
// format that appends a signature, so that no real image is mistaken for
// a signed one.
func TestCorpus(t *testing.T) {
	dir := os.Getenv(corpusEnv)
	if dir == "" {
		t.Skipf("$%s is not set: no firmware corpus to check", corpusEnv)
	}
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	signed, apps := 0, 0
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 5 {
			continue
		}
		name, kind := cols[0], cols[4]
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.Contains(name, "signed_v2") && !strings.Contains(name, "unsigned"):
			signed++
			t.Run(name, func(t *testing.T) { checkCorpusSigned(t, data) })
		case kind == "app" || kind == "bootloader" || kind == "gzip":
			apps++
			if _, err := check(ESP8266, data); !errors.Is(err, ErrUnsigned) {
				t.Errorf("%s: esp8266 format: err = %v, want ErrUnsigned", name, err)
			}
			if _, err := check(SecureBootV2, data); err == nil {
				t.Errorf("%s: unsigned image passes as Secure Boot v2 signed", name)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if signed == 0 || apps == 0 {
		t.Fatalf("found %d signed images and %d others in the corpus", signed, apps)
	}
	t.Logf("%d Secure Boot v2 signed images verified, %d unsigned images recognised", signed, apps)
}

func checkCorpusSigned(t *testing.T, data []byte) {
	s, err := check(SecureBootV2, data)
	if err != nil {
		t.Fatalf("format: %v", err)
	}
	sector := data[len(data)-sectorSize:]
	for i := range s.Signatures {
		raw := sector[i*sigBlockSize : (i+1)*sigBlockSize]
		k := keyOfBlock(t, raw)
		got, err := check(SecureBootV2, data, k)
		if err != nil || got.Key != k.Name {
			t.Errorf("block %d with its own key: %+v, %v", i, got, err)
		}
		if got.Signatures[i].KeyDigest == "" {
			t.Errorf("block %d has no key digest", i)
		}
	}
	// And the image is refused when it changes after signing.
	bad := flip(data, 1000)
	if _, err := check(SecureBootV2, bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("changed image: err = %v, want ErrMalformed", err)
	}
}

// keyOfBlock makes a Key of the public key a signature block holds.
func keyOfBlock(t *testing.T, raw []byte) Key {
	t.Helper()
	le := func(b []byte) *big.Int { return new(big.Int).SetBytes(reversed(b)) }
	switch raw[1] {
	case sigVersionRSA:
		return mustKey(t, "block", &rsa.PublicKey{N: le(raw[36:420]), E: int(binary.LittleEndian.Uint32(raw[420:424]))})
	case sigVersionEC:
		if raw[2] == 1 {
			return mustKey(t, "block", &ecdsa.PublicKey{Curve: elliptic.P384(), X: le(raw[53:101]), Y: le(raw[101:149])})
		}
		return mustKey(t, "block", &ecdsa.PublicKey{Curve: elliptic.P256(), X: le(raw[37:69]), Y: le(raw[69:101])})
	}
	t.Fatalf("block version %#02x", raw[1])
	return Key{}
}
