package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/imagesig"
)

// Trust is what a server trusts about signed firmware. It is configured
// on the server, outside the config repository, so that write access to
// the repository alone cannot get firmware the team did not sign onto a
// platform that requires signatures: the repository names keys, the
// server decides which keys count and which platforms must use one.
type Trust struct {
	// Keys are the public keys firmware may be signed with, by name;
	// platforms name theirs with signing_key. Nil holds none.
	Keys *imagesig.Keyring
	// Require lists the platforms that must be signed whatever their
	// file says, as path.Match patterns of platform names ("*" is every
	// platform). Platforms that set signing must be signed either way.
	Require []string
}

// Requires reports whether the server requires platform to be signed.
func (t *Trust) Requires(platform string) bool {
	if t == nil {
		return false
	}
	for _, pat := range t.Require {
		if ok, _ := path.Match(pat, platform); ok {
			return true
		}
	}
	return false
}

// ValidRequirePattern reports whether pat can be one of Trust.Require.
func ValidRequirePattern(pat string) bool {
	_, err := path.Match(pat, "")
	return pat != "" && err == nil && !strings.Contains(pat, "/")
}

// signing is a platform's signature rule: its signing and signing_key.
type signing struct {
	format imagesig.Format
	// keys are the trusted keys signing_key names; nil without a Trust,
	// when only the format is checked.
	keys []imagesig.Key
	// id identifies the rule in the scan memo: format and key contents.
	id string
}

// signingKeys are a platform's keys about signatures.
var signingKeys = []string{"signing", "signing_key"}

// signingRule reads platform p's signing and signing_key and checks them
// against the loader's Trust. It returns nil when p's binaries need no
// signature.
func (l *loader) signingRule(t *table, p *platform) *signing {
	trust := l.opts.Trust
	format, hasFormat := t.str("signing", false)
	names, hasNames := keyNames(t)
	if !hasFormat {
		if hasNames {
			t.errorf("signing_key", "set signing too: the format the binaries are signed in (%s)", formatList())
		}
		if trust.Requires(p.Name) {
			t.errorf("signing", "this server requires platform %s to be signed: set signing (%s) and signing_key (one of the keys the server trusts)", p.Name, formatList())
		}
		return nil
	}
	f, ok := imagesig.ParseFormat(format)
	if !ok {
		t.errorf("signing", "unknown signature format %q (known: %s)", format, formatList())
		return nil
	}
	if p.Chip != "" && f.ForESP8266() != (p.Chip == "esp8266") {
		devices := "ESP32-family"
		if f.ForESP8266() {
			devices = "ESP8266"
		}
		t.errorf("signing", "%s signatures are checked by %s devices, but platform %s is %s", f, devices, p.Name, p.Chip)
	}
	// From here on a rule is returned even when its keys are wrong (the
	// platform has errors then), so that its binaries are still read
	// through their signature container and get no errors of their own.
	rule := &signing{format: f, id: string(f)}
	if !hasNames {
		t.missing("signing_key")
		return rule
	}
	for _, name := range names {
		if !imagesig.ValidKeyName(name) {
			t.errorf("signing_key", "%q is not a key name (1-64 letters, digits, '.', '_' and '-': the key's file name without .pem)", name)
		}
	}
	if trust == nil {
		t.warnf("signing_key", "who signed the binaries is not checked, only that they are signed as %s: no trusted keys given (the server checks with the keys it trusts; otagit validate --signing-keys DIR checks here)", f)
		return rule
	}
	for _, name := range names {
		k, ok := trust.Keys.Get(name)
		switch {
		case !imagesig.ValidKeyName(name):
		case !ok && trust.Keys.Len() == 0:
			t.errorf("signing_key", "no trusted key %q: the server trusts no signing keys (give it --signing-keys DIR with %s.pem)", name, name)
		case !ok:
			t.errorf("signing_key", "no trusted key %q on this server (trusted: %s)", name, strings.Join(trust.Keys.Names(), ", "))
		default:
			if err := k.Fits(f); err != nil {
				t.errorf("signing_key", "%v", err)
				continue
			}
			rule.keys = append(rule.keys, k)
			rule.id += " " + k.ID()
		}
	}
	return rule
}

// keyNames reads signing_key: one name or an array of them (a key being
// replaced and its successor).
func keyNames(t *table) ([]string, bool) {
	v, present := t.m["signing_key"]
	if !present {
		return nil, false
	}
	switch v := v.(type) {
	case string:
		t.use("signing_key")
		return []string{v}, true
	case []any:
		names := t.strings("signing_key")
		if len(v) == 0 {
			t.errorf("signing_key", "name at least one key")
		}
		return names, true
	}
	t.use("signing_key")
	t.errorf("signing_key", "must be a key name or an array of key names, not %s", tomlType(v))
	return nil, true
}

func formatList() string {
	var s []string
	for _, f := range imagesig.Formats() {
		s = append(s, string(f))
	}
	return strings.Join(s, ", ")
}

// sigKey identifies one signature check: a binary and a signing rule.
type sigKey struct {
	sha256, rule string
}

// sigResult is what a signature check found.
type sigResult struct {
	head []byte
	err  error // an imagesig sentinel, or nil
}

// signature checks binary b as platform p's signing rule asks, and
// returns the first bytes of the application image inside the file:
// b.Head, unless the format puts the signature in front. The content is
// read from b.File, or else from path in the loader's tree ("" for a
// binary that is not in it). Results are remembered by content in the
// ScanMemo; a read error is not, so that it is tried again.
func (l *loader) signature(path string, b artifact.Blob, p *platform) ([]byte, error) {
	rule := p.signing
	if rule == nil {
		return b.Head, nil
	}
	key := sigKey{sha256: b.SHA256, rule: rule.id}
	if b.SHA256 != "" {
		if r, ok := l.opts.Scans.sig(key); ok {
			return r.head, r.err
		}
	}
	var f io.ReadCloser
	var err error
	switch {
	case b.File != "":
		f, err = os.Open(b.File)
	case path != "":
		f, err = l.fsys.Open(path)
	default:
		err = errors.New("its content is not stored")
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read it to check its signature: %w", err)
	}
	defer f.Close()
	s, err := imagesig.Check(rule.format, f, b.Size, rule.keys)
	sentinel := errors.Is(err, imagesig.ErrUnsigned) || errors.Is(err, imagesig.ErrMalformed) || errors.Is(err, imagesig.ErrUntrusted)
	if err != nil && !sentinel {
		return nil, fmt.Errorf("cannot read it to check its signature: %w", err)
	}
	r := sigResult{err: err}
	if err == nil {
		r.head = s.Head
	}
	if b.SHA256 != "" {
		l.opts.Scans.putSig(key, r)
	}
	return r.head, r.err
}
