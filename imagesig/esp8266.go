package imagesig

import (
	"crypto"
	"crypto/rsa"
	"encoding/binary"
	"fmt"
	"strings"
)

// ESP8266 trailer bounds. The Updater takes the length from the file and
// compares it with its key's; BearSSL's RSA keys go up to 4096 bits.
const (
	esp8266LenWord   = 4
	esp8266MinSigLen = 64
	esp8266MaxSigLen = 512
)

// ESP8266SigLen returns the signature length an ESP8266 signed image
// announces in its last four bytes, tail, and whether it is one a signed
// image can have (64 to 512 bytes, no more than the file minus the word).
// An unsigned image never passes: esptool ends images with three zero
// padding bytes and the checksum, which read as a length of 0 or at
// least 16 MiB.
func ESP8266SigLen(tail []byte, size int64) (int, bool) {
	if len(tail) < esp8266LenWord {
		return 0, false
	}
	n := binary.LittleEndian.Uint32(tail[len(tail)-esp8266LenWord:])
	if n < esp8266MinSigLen || n > esp8266MaxSigLen || int64(n)+esp8266LenWord >= size {
		return 0, false
	}
	return int(n), true
}

// checkESP8266 checks the trailer of Updater.cpp's signed images: image,
// signature, length word.
func checkESP8266(r *reader, size int64, keys []Key) (*Signed, error) {
	// Everything before the longest possible trailer is image; the rest
	// is read into memory and split once the length word is known.
	tailLen := min(size, esp8266MaxSigLen+esp8266LenWord)
	d := newDigester(false)
	if !r.copyTo(d, size-tailLen) {
		return nil, nil
	}
	tail := make([]byte, tailLen)
	if !r.full(tail) {
		return nil, nil
	}
	sigLen, ok := ESP8266SigLen(tail, size)
	if !ok {
		return nil, fmt.Errorf("%w: no signature trailer: the last 4 bytes (% x) are not the length of a signature (the ESP8266 Updater reads the signature's length there)",
			ErrUnsigned, tail[len(tail)-min(len(tail), esp8266LenWord):])
	}
	imageSize := size - int64(sigLen) - esp8266LenWord
	inTail := int(imageSize - (size - tailLen)) // image bytes read into tail
	d.Write(tail[:inTail])
	sig := tail[inTail : inTail+sigLen]
	digest := d.sha256.Sum(nil)
	s := &Signed{
		Format: ESP8266, ImageSize: imageSize, Head: d.head,
		Signatures: []Signature{{Scheme: "RSA PKCS#1 v1.5 SHA-256", Len: sigLen}},
	}
	if len(keys) == 0 {
		return s, nil
	}
	var why []string
	for _, k := range keys {
		pub := k.Public.(*rsa.PublicKey) // Fits(ESP8266) holds
		if pub.Size() != sigLen {
			why = append(why, fmt.Sprintf("key %q (%s) makes %d-byte signatures", k.Name, k.Describe(), pub.Size()))
			continue
		}
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig) == nil {
			s.Key = k.Name
			return s, nil
		}
		// signing.py --legacy: the bare digest, for older cores.
		if rsa.VerifyPKCS1v15(pub, crypto.Hash(0), digest, sig) == nil {
			s.Key = k.Name
			s.Signatures[0].Scheme = "RSA PKCS#1 v1.5 over the bare SHA-256 (legacy)"
			return s, nil
		}
		why = append(why, fmt.Sprintf("it does not verify with key %q", k.Name))
	}
	return s, fmt.Errorf("%w: the signature is %d bytes, and %s", ErrUntrusted, sigLen, strings.Join(why, "; "))
}
