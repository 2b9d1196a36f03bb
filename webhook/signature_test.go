package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// hmacHeader computes X-Hub-Signature-256 independently of Sign.
func hmacHeader(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestSign(t *testing.T) {
	tests := []struct {
		name         string
		secret, body string
		want         string
	}{
		// The example from GitHub's documentation, "Validating webhook
		// deliveries".
		{"github docs example", "It's a Secret to Everybody", "Hello, World!",
			"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"},
		{"empty body", "s3cret", "", hmacHeader([]byte("s3cret"), nil)},
		{"empty secret", "", `{"zen":"hi"}`, hmacHeader(nil, []byte(`{"zen":"hi"}`))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sign([]byte(tt.secret), []byte(tt.body))
			if got != tt.want {
				t.Errorf("Sign: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVerifySignature(t *testing.T) {
	secret := []byte("It's a Secret to Everybody")
	body := []byte(`{"ref":"refs/heads/main","after":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"}`)
	good := Sign(secret, body)
	hexPart := strings.TrimPrefix(good, "sha256=")

	flipped := append([]byte(nil), body...)
	flipped[len(flipped)-2] ^= 0x01

	// A signature of the right length and form whose last digit differs.
	last := hexPart[len(hexPart)-1]
	other := byte('0')
	if last == '0' {
		other = '1'
	}
	wrongDigit := "sha256=" + hexPart[:len(hexPart)-1] + string(other)

	tests := []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   error
	}{
		{"valid from Sign", secret, body, good, nil},
		{"valid from crypto/hmac", secret, body, hmacHeader(secret, body), nil},
		{"valid empty body", secret, nil, hmacHeader(secret, nil), nil},
		// GitHub sends lower-case hex, but hex.Decode accepts upper case
		// too, so an upper-cased digest verifies. This asserts the current
		// behaviour: the digest is still checked in full.
		{"upper-case hex", secret, body, "sha256=" + strings.ToUpper(hexPart), nil},
		{"missing header", secret, body, "", ErrNoSignature},
		{"missing header empty body", secret, nil, "", ErrNoSignature},
		{"sha1 prefix", secret, body, "sha1=" + hexPart[:40], ErrBadSignature},
		{"sha1 prefix sha256 digest", secret, body, "sha1=" + hexPart, ErrBadSignature},
		{"upper-case prefix", secret, body, "SHA256=" + hexPart, ErrBadSignature},
		{"no prefix", secret, body, hexPart, ErrBadSignature},
		{"prefix only", secret, body, "sha256=", ErrBadSignature},
		{"too short", secret, body, good[:len(good)-2], ErrBadSignature},
		{"too long", secret, body, good + "00", ErrBadSignature},
		{"odd length", secret, body, good[:len(good)-1], ErrBadSignature},
		{"surrounding space", secret, body, " " + good, ErrBadSignature},
		{"trailing space", secret, body, good + " ", ErrBadSignature},
		{"non-hex", secret, body, "sha256=" + hexPart[:62] + "zz", ErrBadSignature},
		{"non-hex all", secret, body, "sha256=" + strings.Repeat("g", 64), ErrBadSignature},
		{"base64 digest", secret, body, "sha256=" + strings.Repeat("A", 43) + "=", ErrBadSignature},
		{"right length wrong secret", []byte("another secret"), body, good, ErrBadSignature},
		{"right length wrong digit", secret, body, wrongDigit, ErrBadSignature},
		{"all zeros", secret, body, "sha256=" + strings.Repeat("0", 64), ErrBadSignature},
		{"body changed by one byte", secret, flipped, good, ErrBadSignature},
		{"body truncated", secret, body[:len(body)-1], good, ErrBadSignature},
		{"body extended", secret, append(append([]byte(nil), body...), '\n'), good, ErrBadSignature},
		{"empty secret does not verify a keyed signature", nil, body, good, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.secret, tt.body, tt.header)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("VerifySignature(%q): got %v, want nil", tt.header, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifySignature(%q): got %v, want %v", tt.header, err, tt.want)
			}
		})
	}
}
