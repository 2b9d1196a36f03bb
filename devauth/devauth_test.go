package devauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/internal/testwait"
	"github.com/otagit/otagit/rollout"
)

// hashes made once: bcrypt at MinCost keeps the tests fast.
var testHashes sync.Map

func testHash(t testing.TB, pass string) string {
	if h, ok := testHashes.Load(pass); ok {
		return h.(string)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	testHashes.Store(pass, string(h))
	return string(h)
}

func writeFile(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "devices.auth.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func request(auth string) *http.Request {
	r := httptest.NewRequest("GET", "/update", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

var (
	kitchen = &rollout.Device{MAC: rollout.MAC{0x18, 0xFE, 0x34, 0, 0, 1}, Platform: "lamp", Name: "kitchen"}
	hall    = &rollout.Device{MAC: rollout.MAC{0x18, 0xFE, 0x34, 0, 0, 2}, Platform: "lamp"}
	canary  = &rollout.Device{MAC: rollout.MAC{0x18, 0xFE, 0x34, 0, 0, 3}, Platform: "lamp", Groups: []string{"site-a", "canary"}}
	desk    = &rollout.Device{MAC: rollout.MAC{0x24, 0x0A, 0xC4, 0, 0, 1}, Platform: "station", Name: "desk"}
	meter   = &rollout.Device{MAC: rollout.MAC{0x24, 0x0A, 0xC4, 0, 0, 9}, Platform: "meter"}
)

func newTestAuthorizer(t *testing.T) (*Authorizer, string) {
	t.Helper()
	p := writeFile(t, t.TempDir(), `
[platform.lamp]
user = "lamp"
hash = "`+testHash(t, "lamp-pw")+`"

[group.canary]
user = "canary"
hash = "`+testHash(t, "canary-pw")+`"

[device."18:fe:34:00:00:01"]
user = "kitchen"
hash = "`+testHash(t, "kitchen-pw")+`"

[device.desk]
user = "desk"
hash = "`+testHash(t, "desk-pw")+`"
`)
	a, err := New(Options{File: p})
	if err != nil {
		t.Fatal(err)
	}
	return a, p
}

// TestAuthorizeDevice: the most specific credential applies; a device's
// own credential is bound to it; a shared one lets any device of its
// platform or group in; a device no credential covers passes unless
// credentials are required.
func TestAuthorizeDevice(t *testing.T) {
	a, _ := newTestAuthorizer(t)
	for _, tt := range []struct {
		name     string
		dev      *rollout.Device
		platform string
		auth     string
		want     checkin.Auth
		err      error
	}{
		{"own credential, by MAC", kitchen, "", basic("kitchen", "kitchen-pw"), checkin.AuthDevice, nil},
		{"own credential, by name", desk, "", basic("desk", "desk-pw"), checkin.AuthDevice, nil},
		{"the platform's for a device with its own", kitchen, "", basic("lamp", "lamp-pw"), 0, ErrWrong},
		{"another device's credential", hall, "", basic("kitchen", "kitchen-pw"), 0, ErrWrong},
		{"another device's credential, by name", desk, "", basic("kitchen", "kitchen-pw"), 0, ErrWrong},
		{"platform credential", hall, "", basic("lamp", "lamp-pw"), checkin.AuthShared, nil},
		{"wrong user", hall, "", basic("lamb", "lamp-pw"), 0, ErrWrong},
		{"wrong password", hall, "", basic("lamp", "lamp-pw2"), 0, ErrWrong},
		{"no credentials", hall, "", "", 0, ErrNoCredentials},
		{"not basic", hall, "", "Bearer lamp-pw", 0, ErrNoCredentials},
		{"group credential", canary, "", basic("canary", "canary-pw"), checkin.AuthShared, nil},
		{"the platform's for a device whose group has one", canary, "", basic("lamp", "lamp-pw"), 0, ErrWrong},
		{"a device no credential covers", meter, "", "", checkin.AuthNone, nil},
		{"no device, platform with a credential", nil, "lamp", basic("lamp", "lamp-pw"), checkin.AuthShared, nil},
		{"no device, platform with a credential, none sent", nil, "lamp", "", 0, ErrNoCredentials},
		{"no device, no platform", nil, "", "", checkin.AuthNone, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.AuthorizeDevice(request(tt.auth), tt.dev, tt.platform)
			if !errors.Is(err, tt.err) || (err == nil && got != tt.want) {
				t.Fatalf("got %v, %v; want %v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

// TestCache: a verified credential is checked once; wrong ones never
// fill the cache; a changed credential no longer matches its entries.
func TestCache(t *testing.T) {
	a, p := newTestAuthorizer(t)
	a.opts.CacheSize = 4
	a.cache.init(4 * len(a.cache.shards))
	for range 3 {
		if _, err := a.AuthorizeDevice(request(basic("kitchen", "kitchen-pw")), kitchen, ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.Len(); n != 1 {
		t.Fatalf("%d entries after three requests of one device, want 1", n)
	}
	for i := range 200 {
		if _, err := a.AuthorizeDevice(request(basic("kitchen", "guess-"+string(rune('a'+i%26))+strings.Repeat("x", i))), kitchen, ""); err == nil {
			t.Fatal("a guess passed")
		}
	}
	if n := a.Len(); n != 1 {
		t.Fatalf("%d entries after 200 wrong passwords, want 1", n)
	}
	// A shared credential is checked once for the whole platform.
	for i := range 50 {
		dev := &rollout.Device{MAC: rollout.MAC{0x18, 0xFE, 0x35, 0, byte(i >> 8), byte(i)}, Platform: "lamp"}
		if _, err := a.AuthorizeDevice(request(basic("lamp", "lamp-pw")), dev, ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.Len(); n != 2 {
		t.Fatalf("%d entries after 50 devices with the platform credential, want 2", n)
	}
	// Bounded: many devices with their own credentials never exceed the cap.
	body := ""
	for i := range 500 {
		body += "[device.\"18:FE:36:00:" + hex2(i>>8) + ":" + hex2(i) + "\"]\nuser = \"d\"\nhash = \"" + testHash(t, "d-pw") + "\"\n"
	}
	writeFile(t, filepath.Dir(p), body)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		dev := &rollout.Device{MAC: rollout.MAC{0x18, 0xFE, 0x36, 0, byte(i >> 8), byte(i)}, Platform: "lamp"}
		if _, err := a.AuthorizeDevice(request(basic("d", "d-pw")), dev, ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.Len(); n > 4*len(a.cache.shards) || n < 4*len(a.cache.shards)/2 {
		t.Fatalf("%d entries, want up to the cap %d", n, 4*len(a.cache.shards))
	}
	// A new password for kitchen: the old one, cached, no longer works.
	writeFile(t, filepath.Dir(p), `
[device."18:FE:34:00:00:01"]
user = "kitchen"
hash = "`+testHash(t, "kitchen-new")+`"
`)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AuthorizeDevice(request(basic("kitchen", "kitchen-pw")), kitchen, ""); !errors.Is(err, ErrWrong) {
		t.Fatalf("old password after reload: %v, want ErrWrong", err)
	}
	if _, err := a.AuthorizeDevice(request(basic("kitchen", "kitchen-new")), kitchen, ""); err != nil {
		t.Fatalf("new password after reload: %v", err)
	}
	// A bad file keeps the credentials loaded before.
	writeFile(t, filepath.Dir(p), "[device.x]\nuser = \"x\"\nhash = \"plain text\"\n")
	if err := a.Reload(); err == nil {
		t.Fatal("reload of an invalid file succeeded")
	}
	if _, err := a.AuthorizeDevice(request(basic("kitchen", "kitchen-new")), kitchen, ""); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}

func hex2(b int) string { return fmt.Sprintf("%02X", b&0xFF) }

func TestRequired(t *testing.T) {
	p := writeFile(t, t.TempDir(), "required = true\n[platform.lamp]\nuser = \"lamp\"\nhash = \""+testHash(t, "lamp-pw")+"\"\n")
	a, err := New(Options{File: p})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AuthorizeDevice(request(""), meter, ""); !errors.Is(err, ErrNotCovered) {
		t.Fatalf("a device no credential covers: %v, want ErrNotCovered", err)
	}
	if _, err := a.AuthorizeDevice(request(""), nil, ""); !errors.Is(err, ErrNotCovered) {
		t.Fatalf("a request naming nothing: %v, want ErrNotCovered", err)
	}
}

// TestFileErrors: every mistake names file:line:key.
func TestFileErrors(t *testing.T) {
	h := testHash(t, "pw")
	for _, tt := range []struct{ doc, want string }{
		{"[platform.lamp]\nuser = \"lamp\"\nhash = \"hunter2\"\n", `devices.auth.toml:3: platform.lamp.hash: not a bcrypt hash`},
		{"[platform.lamp]\nhash = \"" + h + "\"\n", `devices.auth.toml:1: platform.lamp.user: a user name`},
		{"\n[group.canary]\nuser = \"a:b\"\nhash = \"" + h + "\"\n", `devices.auth.toml:3: group.canary.user: a user name without ':'`},
		{"[device.kitchen]\nuser = \"k\"\n", `devices.auth.toml:1: device.kitchen.hash: a bcrypt hash is required`},
		{"[device.kitchen]\nuser = \"k\"\npassword = \"x\"\nhash = \"" + h + "\"\n", `devices.auth.toml:3: device.kitchen.password: unknown key`},
		{"requird = true\n", `devices.auth.toml:1: requird: unknown key`},
		{"[device.\"18:FE:34:00:00:01\"]\nuser = \"k\"\nhash = \"" + h + "\"\n[device.\"18fe34000001\"]\nuser = \"k\"\nhash = \"" + h + "\"\n",
			`devices.auth.toml:4: device.18fe34000001: MAC 18:FE:34:00:00:01 already has a credential`},
		{"[platform.lamp\n", `devices.auth.toml:2: `},
	} {
		p := writeFile(t, t.TempDir(), tt.doc)
		_, err := New(Options{File: p})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), p+":") {
			t.Errorf("%q: got %v, want %q", tt.doc, err, tt.want)
		}
	}
	// A file that cannot be read is not a config error.
	_, err := New(Options{File: filepath.Join(t.TempDir(), "missing.toml")})
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseBasic(t *testing.T) {
	for _, tt := range []struct {
		h          string
		user, pass string
		ok         bool
	}{
		{basic("lamp", "pw"), "lamp", "pw", true},
		{"basic " + base64.StdEncoding.EncodeToString([]byte("lamp:p:w")), "lamp", "p:w", true},
		{"BASIC   " + base64.StdEncoding.EncodeToString([]byte("lamp:")), "lamp", "", true},
		{basic("", "pw"), "", "", false},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), "", "", false},
		{"Basic !!!", "", "", false},
		{"Basic", "", "", false},
		{"Digest x", "", "", false},
		{"Basic " + strings.Repeat("A", MaxAuthorization), "", "", false},
	} {
		u, p, ok := ParseBasic(tt.h)
		if u != tt.user || p != tt.pass || ok != tt.ok {
			t.Errorf("ParseBasic(%q) = %q, %q, %v; want %q, %q, %v", tt.h, u, p, ok, tt.user, tt.pass, tt.ok)
		}
	}
}

func FuzzParseBasic(f *testing.F) {
	for _, s := range []string{basic("lamp", "pw"), "Basic ", "basic Og==", "Basic bGFtcDpwdw", "Bearer x", "Basic " + strings.Repeat("QUFB", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		u, p, ok := ParseBasic(h)
		if !ok {
			return
		}
		if u == "" || strings.Contains(u, ":") || len(u)+len(p) > len(h) {
			t.Fatalf("ParseBasic(%q) = %q, %q", h, u, p)
		}
		// What it read is what a client sending u and p sends.
		if u2, p2, ok2 := ParseBasic(basic(u, p)); !ok2 || u2 != u || p2 != p {
			t.Fatalf("round trip of %q, %q: %q, %q, %v", u, p, u2, p2, ok2)
		}
	})
}

func FuzzCredentialFile(f *testing.F) {
	f.Add([]byte("required = true\n[platform.lamp]\nuser = \"lamp\"\nhash = \"$2a$04$abcdefghijklmnopqrstuu\"\n"))
	f.Add([]byte("[device.\"18:FE:34:00:00:01\"]\nuser = \"k\"\n"))
	f.Add([]byte("[group]\nx = 1\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := parse("f.toml", src) // must not panic
		if err == nil && c == nil {
			t.Fatal("nil credentials without an error")
		}
	})
}

// BenchmarkAuthorizeCached is the cost of a poll after the first: an
// HMAC and a map lookup.
func BenchmarkAuthorizeCached(b *testing.B) {
	dir := b.TempDir()
	p := filepath.Join(dir, "a.toml")
	os.WriteFile(p, []byte("[platform.lamp]\nuser = \"lamp\"\nhash = \""+testHash(b, "lamp-pw")+"\"\n"), 0o600)
	a, err := New(Options{File: p})
	if err != nil {
		b.Fatal(err)
	}
	r := request(basic("lamp", "lamp-pw"))
	if _, err := a.AuthorizeDevice(r, hall, ""); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		a.AuthorizeDevice(r, hall, "")
	}
}

// TestOneHashCheckForConcurrentRequests: devices that come back at once
// with the same credentials (a shared one after a restart) cost one
// bcrypt check; wrong ones are checked as often, never cached.
func TestOneHashCheckForConcurrentRequests(t *testing.T) {
	a, _ := newTestAuthorizer(t)
	var calls atomic.Int32
	release := make(chan struct{})
	a.compare = func(h, p []byte) error {
		calls.Add(1)
		<-release // hold the check until every request waits for it
		return bcrypt.CompareHashAndPassword(h, p)
	}
	const n = 16
	errs := make(chan error, n)
	for i := range n {
		dev := &rollout.Device{MAC: rollout.MAC{0x18, 0xFE, 0x35, 0, 0, byte(i)}, Platform: "lamp"}
		go func() {
			_, err := a.AuthorizeDevice(request(basic("lamp", "lamp-pw")), dev, "")
			errs <- err
		}()
	}
	testwait.For(t, "requests waiting on one check", func() bool {
		a.flightMu.Lock()
		defer a.flightMu.Unlock()
		for _, f := range a.flights {
			return len(a.flights) == 1 && f.waiters == n-1
		}
		return false
	})
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if c := calls.Load(); c != 1 {
		t.Fatalf("%d bcrypt checks for %d concurrent requests, want 1", c, n)
	}
}
