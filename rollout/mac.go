package rollout

import (
	"errors"
	"fmt"
)

// MAC is a 48-bit station MAC address as devices report it. The zero value
// is the all-zero address.
type MAC [6]byte

// ErrBadMAC is returned (wrapped) by ParseMAC for text that is not a MAC.
var ErrBadMAC = errors.New("not a MAC address")

// ParseMAC reads a MAC written as six hex pairs, either bare
// ("aabbccddeeff") or separated throughout by ':' or '-'
// ("AA:BB:CC:DD:EE:FF", "aa-bb-cc-dd-ee-ff"), in either case. Leading and
// trailing spaces are ignored. It does not allocate on success.
func ParseMAC(s string) (MAC, error) {
	m, ok := parseMAC(s)
	if !ok {
		return MAC{}, fmt.Errorf("%q: %w", trimSpace(s), ErrBadMAC)
	}
	return m, nil
}

// parseMAC is ParseMAC without the error, so that asking whether text is
// a MAC (every device name is asked) never allocates.
func parseMAC(s string) (MAC, bool) {
	var m MAC
	s = trimSpace(s)
	var sep byte
	switch len(s) {
	case 12:
	case 17:
		sep = s[2]
		if sep != ':' && sep != '-' {
			return m, false
		}
	default:
		return m, false
	}
	j := 0
	for i := 0; i < 6; i++ {
		if sep != 0 && i > 0 {
			if s[j] != sep {
				return MAC{}, false
			}
			j++
		}
		hi, ok1 := unhex(s[j])
		lo, ok2 := unhex(s[j+1])
		if !ok1 || !ok2 {
			return MAC{}, false
		}
		m[i] = hi<<4 | lo
		j += 2
	}
	return m, true
}

// String returns the canonical form, upper-case hex pairs separated by ':',
// which is what the ESP8266 and ESP32 update clients send.
func (m MAC) String() string {
	const digits = "0123456789ABCDEF"
	var b [17]byte
	for i, v := range m {
		if i > 0 {
			b[i*3-1] = ':'
		}
		b[i*3] = digits[v>>4]
		b[i*3+1] = digits[v&0xF]
	}
	return string(b[:])
}

// MarshalText implements encoding.TextMarshaler with the canonical form.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseMAC.
func (m *MAC) UnmarshalText(b []byte) error {
	v, err := ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
