package devauth

import (
	"encoding/base64"
	"strings"
)

// MaxAuthorization bounds the Authorization header ParseBasic reads: a
// device's user and password are short, and bcrypt reads at most 72
// bytes of a password anyway.
const MaxAuthorization = 512

// ParseBasic reads the credentials of an HTTP basic Authorization header
// (RFC 7617), as ESP8266HTTPClient's and HTTPClient's setAuthorization
// send them: "Basic " and base64 of user ":" password. The scheme is
// case-insensitive; ok is false for anything else, for a header longer
// than MaxAuthorization, and for a user that is empty. It never panics
// and reads its input once.
func ParseBasic(header string) (user, pass string, ok bool) {
	if len(header) > MaxAuthorization || len(header) < 6 || !strings.EqualFold(header[:6], "basic ") {
		return "", "", false
	}
	token := strings.TrimLeft(header[6:], " ")
	b, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return "", "", false
	}
	s := string(b)
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}
