package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// Signature errors, matched with errors.Is.
var (
	// ErrNoSignature: the delivery has no X-Hub-Signature-256 header.
	ErrNoSignature = errors.New("missing X-Hub-Signature-256 header")
	// ErrBadSignature: the header is malformed or does not match the body.
	ErrBadSignature = errors.New("signature does not match")
)

// VerifySignature checks header, the value of X-Hub-Signature-256
// ("sha256=" and 64 hex digits), against the HMAC-SHA256 of body keyed
// with secret. The comparison takes constant time.
func VerifySignature(secret, body []byte, header string) error {
	if err := checkSignatureForm(header); err != nil {
		return err
	}
	got := make([]byte, sha256.Size)
	if _, err := hex.Decode(got, []byte(header[len("sha256="):])); err != nil {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}

// checkSignatureForm refuses a signature header that cannot be right,
// before the body is read: ServeHTTP calls it first, VerifySignature too.
func checkSignatureForm(header string) error {
	if header == "" {
		return ErrNoSignature
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexSig) != sha256.Size*2 {
		return ErrBadSignature
	}
	return nil
}

// Sign returns the X-Hub-Signature-256 value GitHub sends for body: for
// tests and for tools that replay deliveries.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
