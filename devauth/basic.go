package devauth

import (
	"bytes"
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
	u, p, ok := decodeBasic(nil, header)
	return string(u), string(p), ok
}

// decodeBasic is ParseBasic decoding into dst (reused if large enough),
// for the request path, which then allocates nothing on a cache hit.
func decodeBasic(dst []byte, header string) (user, pass []byte, ok bool) {
	if len(header) > MaxAuthorization || len(header) < 6 || !strings.EqualFold(header[:6], "basic ") {
		return nil, nil, false
	}
	token := strings.TrimLeft(header[6:], " ")
	n := base64.StdEncoding.DecodedLen(len(token))
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	n, err := base64.StdEncoding.Decode(dst[:n], []byte(token))
	if err != nil {
		return nil, nil, false
	}
	b := dst[:n]
	i := bytes.IndexByte(b, ':')
	if i <= 0 {
		return nil, nil, false
	}
	return b[:i], b[i+1:], true
}
