package imagesig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Key is a public key firmware can be signed with: an *rsa.PublicKey
// (2048 to 4096 bits) or an *ecdsa.PublicKey on P-256 or P-384.
type Key struct {
	// Name is what platforms call the key (signing_key).
	Name string
	// Public is the key.
	Public crypto.PublicKey
	// id is the hex SHA-256 of the key's PKIX encoding.
	id string
	// sbv2 is the key as a Secure Boot v2 signature block holds it, nil
	// when the format cannot use it.
	sbv2 []byte
}

// keyName is what a key may be called: a file name without ".pem".
var keyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidKeyName reports whether name may name a key.
func ValidKeyName(name string) bool { return keyName.MatchString(name) }

// ParseKey reads the public key named name from PEM text: a "PUBLIC KEY"
// block (`openssl pkey -pubout`, what signing.py and esp32FOTA use, and
// `espsecure extract_public_key`) or an "RSA PUBLIC KEY" block. A private
// key is refused: a server only needs, and should only hold, the public
// half.
func ParseKey(name string, data []byte) (Key, error) {
	if !ValidKeyName(name) {
		return Key{}, fmt.Errorf("key name %q: use 1-64 letters, digits, '.', '_' and '-'", name)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return Key{}, errors.New("no PEM block (want -----BEGIN PUBLIC KEY-----)")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return Key{}, errors.New("more than one PEM block: give one key per file")
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return Key{}, fmt.Errorf("is a private key (%s): give the server only the public key (openssl pkey -in KEY -pubout)", block.Type)
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return Key{}, fmt.Errorf("PEM block %q is not a public key (want PUBLIC KEY)", block.Type)
	}
	if err != nil {
		return Key{}, fmt.Errorf("parse public key: %w", err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < 2048 || bits > 4096 {
			return Key{}, fmt.Errorf("RSA key of %d bits: use 2048 to 4096 bits", bits)
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return Key{}, fmt.Errorf("ECDSA key on %s: use P-256 or P-384", k.Curve.Params().Name)
		}
	default:
		return Key{}, fmt.Errorf("a %T key: use RSA or ECDSA", pub)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return Key{}, err
	}
	sum := sha256.Sum256(der)
	k := Key{Name: name, Public: pub, id: hex.EncodeToString(sum[:])}
	k.sbv2 = encodeSecureBootV2Key(k.Public)
	return k, nil
}

// ID identifies the key's content: the hex SHA-256 of its PKIX encoding.
func (k Key) ID() string { return k.id }

// Describe names the key's kind, e.g. "RSA-3072" or "ECDSA P-256".
func (k Key) Describe() string {
	switch p := k.Public.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", p.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + p.Curve.Params().Name
	}
	return "unknown key"
}

// Fits returns nil when devices can verify format f's signatures with k,
// or else why not.
func (k Key) Fits(f Format) error {
	rsaKey, isRSA := k.Public.(*rsa.PublicKey)
	ec, isEC := k.Public.(*ecdsa.PublicKey)
	switch f {
	case ESP8266:
		if !isRSA {
			return fmt.Errorf("key %q is %s: ESP8266 signed updates are RSA (tools/signing.py)", k.Name, k.Describe())
		}
	case ESP32FOTA:
		if !isRSA {
			return fmt.Errorf("key %q is %s: esp32FOTA verifies RSA signatures only", k.Name, k.Describe())
		}
	case SecureBootV2:
		switch {
		case isRSA && rsaKey.N.BitLen() == 3072:
		case isEC && (ec.Curve == elliptic.P256() || ec.Curve == elliptic.P384()):
		default:
			return fmt.Errorf("key %q is %s: Secure Boot v2 signs with RSA-3072, ECDSA P-256 or ECDSA P-384", k.Name, k.Describe())
		}
	default:
		return fmt.Errorf("unknown signature format %q", f)
	}
	return nil
}

// Keyring is a set of keys by name. A Keyring is not changed after it is
// made and is safe for concurrent use; the zero value holds no keys.
type Keyring struct {
	keys map[string]Key
}

// NewKeyring returns a keyring of keys, whose names must differ.
func NewKeyring(keys ...Key) (*Keyring, error) {
	kr := &Keyring{keys: map[string]Key{}}
	for _, k := range keys {
		if _, dup := kr.keys[k.Name]; dup {
			return nil, fmt.Errorf("two keys named %q", k.Name)
		}
		kr.keys[k.Name] = k
	}
	return kr, nil
}

// LoadDir reads every NAME.pem file of dir as the key NAME (see
// ParseKey); other files and subdirectories are ignored. Any file it
// cannot use is an error that names it, so that a server never starts
// trusting fewer keys than its operator put there.
func LoadDir(dir string) (*Keyring, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	var keys []Key
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".pem")
		if !ok || e.IsDir() {
			continue
		}
		file := filepath.Join(dir, e.Name())
		data, err := readSmall(file)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", file, err)
		}
		k, err := ParseKey(name, data)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", file, err)
		}
		keys = append(keys, k)
	}
	return NewKeyring(keys...)
}

// maxKeyFile bounds a key file: a PEM public key is well under 2 KiB.
const maxKeyFile = 64 << 10

func readSmall(file string) ([]byte, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if st.Size() > maxKeyFile {
		return nil, fmt.Errorf("%d bytes: too large for a public key", st.Size())
	}
	return os.ReadFile(file)
}

// Get returns the key called name.
func (kr *Keyring) Get(name string) (Key, bool) {
	if kr == nil {
		return Key{}, false
	}
	k, ok := kr.keys[name]
	return k, ok
}

// Names returns the names of the keys, sorted.
func (kr *Keyring) Names() []string {
	if kr == nil {
		return nil
	}
	out := make([]string, 0, len(kr.keys))
	for n := range kr.keys {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Len returns the number of keys.
func (kr *Keyring) Len() int {
	if kr == nil {
		return 0
	}
	return len(kr.keys)
}
