package imagesig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"math/big"
	"strings"

	"github.com/otagit/otagit/espimage"
)

// Secure Boot v2 layout (espsecure; ESP-IDF esp_secure_boot.h).
const (
	sectorSize     = 4096
	sigBlockSize   = 1216
	sigBlockCRCEnd = 1196
	sigBlocksMax   = 3
	sigBlockMagic  = 0xE7
	sigVersionRSA  = 0x02
	sigVersionEC   = 0x03
	esp32HeaderLen = 24
	segHeaderLen   = 8
	appendedSHALen = 32
	rsaFieldLen    = 384 // RSA-3072
)

// sbBlock is one valid signature block.
type sbBlock struct {
	index  int
	digest []byte // the image digest the block signs
	sha384 bool
	key    []byte // the key as the block holds it; eFuses hold its SHA-256
	sig    []byte // RSA: big-endian; ECDSA: r then s, big-endian
	scheme string
}

func (b *sbBlock) keyDigest() string {
	sum := sha256.Sum256(b.key)
	return hex.EncodeToString(sum[:])
}

// SecureBootV2ImageLen returns the length of an ESP32-family application
// image as the device computes it from the image's own header and
// segment headers (esp_image_format.c): header, segments, the checksum
// byte padded to 16 bytes, and the appended SHA-256 when header byte 23
// says so. The signature sector of a signed image starts at this length
// rounded up to 4 KiB. It reads the image from r, at most size bytes,
// passing what it reads to w.
func secureBootV2ImageLen(r *reader, w *digester, size int64) (int64, error) {
	hdr := make([]byte, esp32HeaderLen)
	if size < esp32HeaderLen {
		return 0, fmt.Errorf("%w: %d bytes are too short for an ESP32 image header", ErrMalformed, size)
	}
	if !r.full(hdr) {
		return 0, nil
	}
	w.Write(hdr)
	if hdr[0] != 0xE9 {
		return 0, fmt.Errorf("%w: first byte %#02x is not an ESP32 image's 0xE9, so there is no image for a signature sector to follow", ErrMalformed, hdr[0])
	}
	segments := int(hdr[1])
	if segments == 0 || segments > espimage.MaxSegments {
		return 0, fmt.Errorf("%w: %d segments in the image header, want 1 to %d", ErrMalformed, segments, espimage.MaxSegments)
	}
	pos := int64(esp32HeaderLen)
	seg := make([]byte, segHeaderLen)
	for i := range segments {
		if pos+segHeaderLen > size {
			return 0, fmt.Errorf("%w: segment %d of %d starts past the end of the file", ErrMalformed, i, segments)
		}
		if !r.full(seg) {
			return 0, nil
		}
		w.Write(seg)
		n := int64(binary.LittleEndian.Uint32(seg[4:8]))
		pos += segHeaderLen
		if pos+n > size {
			return 0, fmt.Errorf("%w: segment %d of %d bytes runs past the end of the file", ErrMalformed, i, n)
		}
		if !r.copyTo(w, n) {
			return 0, nil
		}
		pos += n
	}
	length := (pos + 1 + 15) &^ 15 // checksum byte, padded to 16
	if hdr[23] == 1 {
		length += appendedSHALen
	}
	if length > size {
		return 0, fmt.Errorf("%w: the image's checksum and digest run past the end of the file", ErrMalformed)
	}
	if !r.copyTo(w, length-pos) {
		return 0, nil
	}
	return length, nil
}

// checkSecureBootV2 checks an ESP-IDF Secure Boot v2 signed image.
func checkSecureBootV2(r *reader, size int64, keys []Key) (*Signed, error) {
	need384 := len(keys) == 0
	for _, k := range keys {
		if ec, ok := k.Public.(*ecdsa.PublicKey); ok && ec.Curve == elliptic.P384() {
			need384 = true
		}
	}
	d := newDigester(need384)
	imageLen, err := secureBootV2ImageLen(r, d, size)
	if err != nil || r.err != nil {
		return nil, err
	}
	padded := (imageLen + sectorSize - 1) &^ (sectorSize - 1)
	if padded+sectorSize > size {
		return nil, fmt.Errorf("%w: the image ends at byte %d and no 4 KiB signature sector follows it at byte %d (the file has %d bytes)",
			ErrUnsigned, imageLen, padded, size)
	}
	if !r.copyTo(d, padded-imageLen) {
		return nil, nil
	}
	sector := make([]byte, sectorSize)
	if !r.full(sector) {
		return nil, nil
	}
	blocks, err := parseSignatureSector(sector, padded)
	if err != nil {
		return nil, err
	}
	sum256 := d.sha256.Sum(nil)
	var sum384 []byte
	if d.sha384 != nil {
		sum384 = d.sha384.Sum(nil)
	}
	s := &Signed{Format: SecureBootV2, ImageSize: size, Head: d.head}
	var checked []*sbBlock
	for _, b := range blocks {
		s.Signatures = append(s.Signatures, Signature{Scheme: b.scheme, Len: len(b.sig), KeyDigest: b.keyDigest()})
		want := sum256
		if b.sha384 {
			want = sum384
		}
		switch {
		case want == nil:
			continue // a SHA-384 block, and no P-384 key to check it with
		case !bytes.Equal(b.digest, want):
			return nil, fmt.Errorf("%w: signature block %d signs an image with digest %x, not this one (%x): signed before the image last changed?",
				ErrMalformed, b.index, b.digest, want)
		}
		checked = append(checked, b)
	}
	if len(keys) == 0 {
		return s, nil
	}
	for _, b := range checked {
		for _, k := range keys {
			if !bytes.Equal(b.key, secureBootV2Key(k)) {
				continue
			}
			if !verifyBlock(b, k) {
				return s, fmt.Errorf("%w: signature block %d names key %q but its signature does not verify", ErrUntrusted, b.index, k.Name)
			}
			s.Key = k.Name
			return s, nil
		}
	}
	var signers []string
	for _, sig := range s.Signatures {
		signers = append(signers, sig.Scheme+" key digest "+sig.KeyDigest)
	}
	var trusted []string
	for _, k := range keys {
		sum := sha256.Sum256(secureBootV2Key(k))
		trusted = append(trusted, fmt.Sprintf("%s (digest %x)", k.Name, sum))
	}
	return s, fmt.Errorf("%w: signed by %s; trusted: %s", ErrUntrusted, strings.Join(signers, ", "), strings.Join(trusted, ", "))
}

// parseSignatureSector returns the valid blocks of a signature sector
// found at offset at. Blocks with another magic byte are absent; a block
// with the magic byte and a bad CRC or version is skipped, as
// espsecure's verify_signature_v2 skips it, and is an error only when no
// block is valid.
func parseSignatureSector(sector []byte, at int64) ([]*sbBlock, error) {
	var out []*sbBlock
	var bad []string
	for i := range sigBlocksMax {
		raw := sector[i*sigBlockSize : (i+1)*sigBlockSize]
		if raw[0] != sigBlockMagic {
			continue
		}
		b, problem := parseBlock(raw, i)
		if problem != "" {
			bad = append(bad, fmt.Sprintf("block %d %s", i, problem))
			continue
		}
		out = append(out, b)
	}
	switch {
	case len(out) > 0:
		return out, nil
	case len(bad) > 0:
		return nil, fmt.Errorf("%w: signature sector at byte %d: %s", ErrMalformed, at, strings.Join(bad, "; "))
	}
	return nil, fmt.Errorf("%w: no signature block (magic 0xE7) in the 4 KiB sector after the image, at byte %d", ErrUnsigned, at)
}

// parseBlock decodes one 1216-byte block, or says what is wrong with it.
func parseBlock(raw []byte, index int) (*sbBlock, string) {
	if want, got := crc32.ChecksumIEEE(raw[:sigBlockCRCEnd]), binary.LittleEndian.Uint32(raw[sigBlockCRCEnd:]); want != got {
		return nil, fmt.Sprintf("has CRC-32 %08x, want %08x", got, want)
	}
	b := &sbBlock{index: index}
	switch raw[1] {
	case sigVersionRSA:
		b.digest = raw[4:36]
		b.key = raw[36:812]
		b.sig = reversed(raw[812:1196])
		b.scheme = "RSA-PSS 3072"
	case sigVersionEC:
		var curveAt, n int
		switch raw[2] {
		case 0:
			b.digest, curveAt, n = raw[4:36], 36, 32
		case 1:
			b.digest, curveAt, n, b.sha384 = raw[4:52], 52, 48, true
		default:
			return nil, fmt.Sprintf("has ECDSA hash version %d, want 0 (SHA-256) or 1 (SHA-384)", raw[2])
		}
		curveID := raw[curveAt]
		switch {
		case curveID == 1 && !b.sha384:
			b.scheme = "ECDSA P-192" // Go has no P-192: never a trusted key
			n = 24
		case curveID == 2 && !b.sha384:
			b.scheme = "ECDSA P-256"
		case curveID == 3 && b.sha384:
			b.scheme = "ECDSA P-384"
		default:
			return nil, fmt.Sprintf("has curve id %d with hash version %d", curveID, raw[2])
		}
		field := 32
		if b.sha384 {
			field = 48
		}
		b.key = raw[curveAt : curveAt+1+2*field]
		// r and s follow the key; P-192's 24-byte numbers sit back to
		// back in the 64-byte field (micro-ecc format), the others fill
		// their fields.
		rAt := curveAt + 1 + 2*field
		sAt := rAt + n
		b.sig = append(reversed(raw[rAt:rAt+n]), reversed(raw[sAt:sAt+n])...)
	default:
		return nil, fmt.Sprintf("has version %#02x, want 0x02 (RSA) or 0x03 (ECDSA)", raw[1])
	}
	return b, ""
}

// secureBootV2Key returns key k as a signature block holds it (and as
// `espsecure digest_sbv2_public_key` digests it), or nil for a key
// Secure Boot v2 cannot use.
func secureBootV2Key(k Key) []byte {
	if k.sbv2 != nil {
		return k.sbv2
	}
	return encodeSecureBootV2Key(k.Public)
}

// encodeSecureBootV2Key computes what secureBootV2Key returns; ParseKey
// does it once per key.
func encodeSecureBootV2Key(pub any) []byte {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() != 3072 {
			return nil
		}
		// n, e, R^2 mod n and -1/n mod 2^32, for the RSA peripheral.
		rr := new(big.Int).Lsh(big.NewInt(1), 2*3072)
		rinv := rr.Mod(rr, p.N)
		two32 := new(big.Int).Lsh(big.NewInt(1), 32)
		inv := new(big.Int).ModInverse(new(big.Int).Mod(p.N, two32), two32)
		m := new(big.Int).Sub(two32, inv)
		m.Mod(m, two32)
		out := littleEndian(p.N, rsaFieldLen)
		out = binary.LittleEndian.AppendUint32(out, uint32(p.E))
		out = append(out, littleEndian(rinv, rsaFieldLen)...)
		return binary.LittleEndian.AppendUint32(out, uint32(m.Uint64()))
	case *ecdsa.PublicKey:
		var id byte
		n := 32
		switch p.Curve {
		case elliptic.P256():
			id = 2
		case elliptic.P384():
			id, n = 3, 48
		default:
			return nil
		}
		out := []byte{id}
		out = append(out, littleEndian(p.X, n)...)
		return append(out, littleEndian(p.Y, n)...)
	}
	return nil
}

// verifyBlock checks b's signature with k, whose key bytes equal b's.
func verifyBlock(b *sbBlock, k Key) bool {
	switch p := k.Public.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPSS(p, crypto.SHA256, b.digest, b.sig, &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}) == nil
	case *ecdsa.PublicKey:
		n := len(b.sig) / 2
		r := new(big.Int).SetBytes(b.sig[:n])
		s := new(big.Int).SetBytes(b.sig[n:])
		return ecdsa.Verify(p, b.digest, r, s)
	}
	return false
}

// littleEndian returns x as n little-endian bytes (x < 2^(8n)).
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
