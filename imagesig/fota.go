package imagesig

import (
	"crypto"
	"crypto/rsa"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/otagit/otagit/espimage"
)

// checkFOTA checks an esp32FOTA signed image: signature, then image.
func checkFOTA(r *reader, size int64, keys []Key) (*Signed, error) {
	// The signature is as long as the key's modulus (mbedtls_pk_verify
	// wants exactly that), so the keys say where the image starts.
	var lens []int
	for _, k := range keys {
		if n := k.Public.(*rsa.PublicKey).Size(); !slices.Contains(lens, n) {
			lens = append(lens, n)
		}
	}
	longest := espimage.SignatureLen
	for _, n := range lens {
		longest = max(longest, n)
	}
	first := make([]byte, min(size, int64(longest+espimage.HeaderLen)))
	if !r.full(first) {
		return nil, nil
	}
	if len(lens) == 0 {
		n, ok := espimage.SignedImageOffset(first)
		if !ok {
			return nil, fotaNoImage(first, espimage.SignatureLens[:])
		}
		lens = []int{n}
	}
	// One digest per place the image may start, fed in one pass.
	var at []int
	var ds []*digester
	var ws []io.Writer
	for _, n := range lens {
		if len(first) > n && first[n] == 0xE9 {
			d := newDigester(false)
			d.Write(first[n:])
			at, ds, ws = append(at, n), append(ds, d), append(ws, d)
		}
	}
	if len(ds) == 0 {
		if n, ok := espimage.SignedImageOffset(first); ok {
			var ks []string
			for _, k := range keys {
				ks = append(ks, fmt.Sprintf("key %q (%s) makes %d-byte signatures", k.Name, k.Describe(), k.Public.(*rsa.PublicKey).Size()))
			}
			return nil, fmt.Errorf("%w: the image follows a %d-byte signature, and %s", ErrUntrusted, n, strings.Join(ks, "; "))
		}
		return nil, fotaNoImage(first, lens)
	}
	if !r.copyTo(io.MultiWriter(ws...), size-int64(len(first))) {
		return nil, nil
	}
	s := &Signed{Format: ESP32FOTA, ImageOffset: int64(at[0]), ImageSize: size - int64(at[0]), Head: ds[0].head,
		Signatures: []Signature{{Scheme: "RSA PKCS#1 v1.5 SHA-256", Len: at[0]}}}
	if len(keys) == 0 {
		return s, nil
	}
	var why []string
	for _, k := range keys {
		pub := k.Public.(*rsa.PublicKey)
		i := slices.Index(at, pub.Size())
		if i < 0 {
			why = append(why, fmt.Sprintf("key %q (%s) makes %d-byte signatures, and no image follows that many bytes", k.Name, k.Describe(), pub.Size()))
			continue
		}
		n := at[i]
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, ds[i].sha256.Sum(nil), first[:n]) == nil {
			s.ImageOffset, s.ImageSize, s.Head, s.Key = int64(n), size-int64(n), ds[i].head, k.Name
			s.Signatures[0].Len = n
			return s, nil
		}
		why = append(why, fmt.Sprintf("the %d-byte signature does not verify with key %q", n, k.Name))
	}
	return s, fmt.Errorf("%w: %s", ErrUntrusted, strings.Join(why, "; "))
}

// fotaNoImage says why no image follows a signature of any of lens bytes.
func fotaNoImage(first []byte, lens []int) error {
	var ls []string
	for _, n := range lens {
		ls = append(ls, fmt.Sprint(n))
	}
	after := strings.Join(ls, ", ")
	switch {
	case first[0] == 0xE9:
		return fmt.Errorf("%w: the file starts with an image header (0xE9); an esp32FOTA signed image starts with its signature", ErrUnsigned)
	case first[0] == 0x1F || first[0] == 0x78:
		return fmt.Errorf("%w: the file starts like a compressed image; esp32FOTA does not accept signed compressed images", ErrUnsigned)
	}
	return fmt.Errorf("%w: no image header (0xE9) after a signature of %s bytes", ErrMalformed, after)
}
