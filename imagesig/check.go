package imagesig

import (
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/otagit/otagit/espimage"
)

// Format names one way firmware images carry their signature.
type Format string

// The formats, as a platform's `signing` key names them.
const (
	ESP8266      Format = "esp8266"
	SecureBootV2 Format = "secure-boot-v2"
	ESP32FOTA    Format = "esp32fota"
)

// Formats returns every format.
func Formats() []Format { return []Format{ESP8266, SecureBootV2, ESP32FOTA} }

// ParseFormat returns the format named s and whether there is one.
func ParseFormat(s string) (Format, bool) {
	for _, f := range Formats() {
		if string(f) == s {
			return f, true
		}
	}
	return "", false
}

// ForESP8266 reports whether f is verified by ESP8266 devices; the other
// formats are verified by ESP32-family devices.
func (f Format) ForESP8266() bool { return f == ESP8266 }

// Errors returned by Check, wrapped with what was found; test for them
// with errors.Is. Their text is written to follow "binary X: ".
var (
	// ErrUnsigned reports an image with no signature where the format
	// puts one.
	ErrUnsigned = errors.New("not signed")
	// ErrMalformed reports a signature container that is damaged or
	// does not belong to the image: a bad length, CRC or digest, or a
	// file too short for what it announces.
	ErrMalformed = errors.New("malformed signature")
	// ErrUntrusted reports a well-formed signature that none of the
	// given keys made.
	ErrUntrusted = errors.New("not signed by a trusted key")
)

// Signed is what Check found in a signed image.
type Signed struct {
	// Format is the format checked.
	Format Format
	// ImageOffset and ImageSize locate the application image in the
	// file: what the device flashes. For esp32FOTA the image follows
	// the signature; for ESP8266 it ends before the trailer; for Secure
	// Boot v2 the device flashes the whole file.
	ImageOffset, ImageSize int64
	// Head holds the first espimage.HeaderLen bytes of that image (fewer
	// for a shorter one), for the image header checks.
	Head []byte
	// Signatures describes each signature found, in file order.
	Signatures []Signature
	// Key is the name of the key that made a signature, "" when Check
	// was given no keys.
	Key string
}

// Signature describes one signature of an image.
type Signature struct {
	// Scheme says how it was made, e.g. "RSA-PSS 3072" or "RSA PKCS#1
	// v1.5 SHA-256".
	Scheme string
	// Len is the signature's length in bytes.
	Len int
	// KeyDigest is, for Secure Boot v2, the hex SHA-256 of the public key
	// as the block holds it: the digest burned into the device's eFuses
	// (`espsecure digest_sbv2_public_key` prints it). Empty otherwise.
	KeyDigest string
}

// Check reads an image of size bytes from r and checks the signature that
// format f puts in it. With keys, it also checks that one of them made a
// signature, and names it in Signed.Key; keys that do not fit f (see
// Key.Fits) are skipped. Without keys it checks only what the format
// carries besides the signature: the trailer's length word, the Secure
// Boot v2 sector's CRCs and image digests, the image header after an
// esp32FOTA prefix. That proves nothing about who signed.
//
// Check reads r once, in order, and at most size bytes. It returns an
// error matching ErrUnsigned, ErrMalformed or ErrUntrusted for what it
// finds wrong (with ErrUntrusted it still returns what it found), and
// other errors for a reader that fails or ends early. It never panics and
// its memory use does not grow with size.
func Check(f Format, r io.Reader, size int64, keys []Key) (*Signed, error) {
	if size <= 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrUnsigned)
	}
	var fit []Key
	for _, k := range keys {
		if k.Fits(f) == nil {
			fit = append(fit, k)
		}
	}
	if len(keys) > 0 && len(fit) == 0 {
		return nil, fmt.Errorf("%w: none of the keys given can verify %s signatures", ErrUntrusted, f)
	}
	src := &reader{r: r}
	var s *Signed
	var err error
	switch f {
	case ESP8266:
		s, err = checkESP8266(src, size, fit)
	case SecureBootV2:
		s, err = checkSecureBootV2(src, size, fit)
	case ESP32FOTA:
		s, err = checkFOTA(src, size, fit)
	default:
		return nil, fmt.Errorf("unknown signature format %q", f)
	}
	if src.err != nil {
		return nil, src.err
	}
	return s, err
}

// reader reads exactly what Check asks for and remembers the first
// failure, so that a short file is told apart from a malformed one.
type reader struct {
	r   io.Reader
	err error
}

// full reads len(p) bytes, or records why it could not.
func (r *reader) full(p []byte) bool {
	if r.err != nil {
		return false
	}
	if _, err := io.ReadFull(r.r, p); err != nil {
		r.err = fmt.Errorf("read image: %w", noEOF(err))
		return false
	}
	return true
}

// copyTo passes n bytes to w.
func (r *reader) copyTo(w io.Writer, n int64) bool {
	if r.err != nil {
		return false
	}
	if n <= 0 {
		return true
	}
	if _, err := io.CopyN(w, r.r, n); err != nil {
		r.err = fmt.Errorf("read image: %w", noEOF(err))
		return false
	}
	return true
}

// noEOF turns a plain EOF, which means the file was shorter than its
// size said, into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// digester feeds the bytes a signature covers to its hashes and keeps the
// first espimage.HeaderLen of them.
type digester struct {
	sha256, sha384 hash.Hash // sha384 is nil when not needed
	head           []byte
}

func newDigester(with384 bool) *digester {
	d := &digester{sha256: sha256.New()}
	if with384 {
		d.sha384 = sha512.New384()
	}
	return d
}

func (d *digester) Write(p []byte) (int, error) {
	if n := espimage.HeaderLen - len(d.head); n > 0 {
		d.head = append(d.head, p[:min(n, len(p))]...)
	}
	d.sha256.Write(p)
	if d.sha384 != nil {
		d.sha384.Write(p)
	}
	return len(p), nil
}
