package devauth

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"golang.org/x/crypto/bcrypt"

	"github.com/otagit/otagit/internal/tomlpos"
	"github.com/otagit/otagit/rollout"
)

// MaxFileSize bounds the credential file read.
const MaxFileSize = 4 << 20

// credential is one user and bcrypt hash.
type credential struct {
	user string
	hash string
	// scope names the credential in errors and logs, e.g. "group canary",
	// and, one per credential of a file, keys its verifications' cache
	// entries.
	scope string
}

// credentials is one loaded credential file; never changed after load.
type credentials struct {
	required  bool
	platforms map[string]*credential
	groups    map[string]*credential
	macs      map[rollout.MAC]*credential
	names     map[string]*credential
}

// fileDoc is the credential file's TOML:
//
//	required = true                 # refuse devices no credential covers
//	[platform.lamp]                 # every device of platform lamp
//	user = "lamp"
//	hash = "$2a$10$..."             # otagit hash-password
//	[group.canary]                  # a device in group canary
//	user = "canary"
//	hash = "$2a$10$..."
//	[device."18:FE:34:00:00:01"]    # one device, by MAC or by name
//	user = "kitchen"
//	hash = "$2a$10$..."
type fileDoc struct {
	Required bool               `toml:"required"`
	Platform map[string]credDoc `toml:"platform"`
	Group    map[string]credDoc `toml:"group"`
	Device   map[string]credDoc `toml:"device"`
}

type credDoc struct {
	User string `toml:"user"`
	Hash string `toml:"hash"`
}

// load reads and validates the credential file at path. Errors name
// file:line:key; an error reading the file is not a validation error and
// says so.
func load(path string) (*credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("devauth: read credentials: %w", err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("devauth: read credentials %s: %w", path, err)
	}
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("%s: over %d bytes", path, MaxFileSize)
	}
	return parse(path, src)
}

// parse validates src, the credential file named file.
func parse(file string, src []byte) (*credentials, error) {
	var doc fileDoc
	md, err := toml.Decode(string(src), &doc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s", file, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	ix := tomlpos.New(src)
	var errs []error
	at := func(path, format string, args ...any) {
		line := ix.Line(path)
		if i := strings.LastIndexByte(path, '.'); line == 0 && i > 0 {
			line = ix.Line(path[:i]) // a missing key: its table's line
		}
		errs = append(errs, fmt.Errorf("%s:%d: %s: %s", file, line, path, fmt.Sprintf(format, args...)))
	}
	for _, k := range md.Undecoded() {
		at(k.String(), "unknown key (allowed: required, platform.<name>, group.<name>, device.<mac or name>, each with user and hash)")
	}
	c := &credentials{required: doc.Required, platforms: map[string]*credential{}, groups: map[string]*credential{},
		macs: map[rollout.MAC]*credential{}, names: map[string]*credential{}}
	check := func(table, name string, d credDoc) *credential {
		path := table + "." + tomlpos.QuoteKey(name)
		switch {
		case name == "":
			at(path, "empty name")
		case d.User == "" || strings.ContainsRune(d.User, ':'):
			at(path+".user", "a user name without ':' is required")
		case d.Hash == "":
			at(path+".hash", "a bcrypt hash is required (otagit hash-password prints one)")
		default:
			if _, err := bcrypt.Cost([]byte(d.Hash)); err != nil {
				at(path+".hash", "not a bcrypt hash: %v (never a password: otagit hash-password prints the hash)", err)
				return nil
			}
			return &credential{user: d.User, hash: d.Hash, scope: table + " " + name}
		}
		return nil
	}
	for _, name := range sortedKeys(doc.Platform) {
		if cr := check("platform", name, doc.Platform[name]); cr != nil {
			c.platforms[strings.ToLower(name)] = cr
		}
	}
	for _, name := range sortedKeys(doc.Group) {
		if cr := check("group", name, doc.Group[name]); cr != nil {
			c.groups[name] = cr
		}
	}
	seen := map[rollout.MAC]string{}
	for _, name := range sortedKeys(doc.Device) {
		cr := check("device", name, doc.Device[name])
		if cr == nil {
			continue
		}
		if m, err := rollout.ParseMAC(name); err == nil {
			if prev, dup := seen[m]; dup {
				at("device."+tomlpos.QuoteKey(name), "MAC %s already has a credential (as %q)", m, prev)
				continue
			}
			seen[m] = name
			c.macs[m] = cr
			continue
		}
		c.names[name] = cr
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func sortedKeys(m map[string]credDoc) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// credentialFor returns the credential a request for dev (nil: a request
// naming no whitelisted device, for platform, "" if unknown) must present,
// nil when none applies, and whether it is the device's own. A verified
// credential is cached under its scope, so a shared one (which lets any
// device of its platform or group in) costs a fleet one hash check, not
// one a device.
// The most specific applies: the device's own (by MAC, then by name),
// then the first of its groups that has one, then its platform's.
func (c *credentials) credentialFor(dev *rollout.Device, platform string) (cr *credential, own bool) {
	if dev == nil {
		return c.platforms[platform], false
	}
	if cr := c.macs[dev.MAC]; cr != nil {
		return cr, true
	}
	if dev.Name != "" {
		if cr := c.names[dev.Name]; cr != nil {
			return cr, true
		}
	}
	for _, g := range dev.Groups {
		if cr := c.groups[g]; cr != nil {
			return cr, false
		}
	}
	return c.platforms[dev.Platform], false
}
