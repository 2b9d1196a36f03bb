package access

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ok(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }

func do(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestReadRule(t *testing.T) {
	g := &Guard{Read: StaticSecret("r3ad"), Admin: StaticSecret("adm1n")}
	h := g.ReadHandler(http.HandlerFunc(ok))
	for _, c := range []struct {
		name, auth string
		operator   bool
		want       int
	}{
		{"no token", "", false, 401},
		{"read token", "Bearer r3ad", false, 200},
		{"lower case scheme", "bearer r3ad", false, 200},
		{"upper case scheme", "BEARER  r3ad ", false, 200},
		{"admin token grants read", "Bearer adm1n", false, 200},
		{"wrong token", "Bearer r3ae", false, 401},
		{"prefix of the token", "Bearer r3a", false, 401},
		{"basic scheme", "Basic cjNhZA==", false, 401},
		{"operator listener", "", true, 200},
		{"operator listener, wrong token", "Bearer nope", true, 200},
	} {
		r := httptest.NewRequest("GET", "/api/devices", nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		if c.operator {
			r = r.WithContext(WithOperator(r.Context()))
		}
		if got := do(h, r).Code; got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestReadRefusedWithoutTokensNamesTheFlags(t *testing.T) {
	g := &Guard{}
	w := do(g.ReadHandler(http.HandlerFunc(ok)), httptest.NewRequest("GET", "/api/devices", nil))
	if w.Code != 403 || !strings.Contains(w.Body.String(), "--admin-listen") || !strings.Contains(w.Body.String(), "--read-token-file") {
		t.Fatalf("%d %q", w.Code, w.Body)
	}
}

func TestAdminRule(t *testing.T) {
	g := &Guard{Read: StaticSecret("r3ad"), Admin: StaticSecret("adm1n")}
	h := g.AdminHandler(http.HandlerFunc(ok))
	for auth, want := range map[string]int{"": 401, "Bearer r3ad": 401, "bearer adm1n": 200, "Bearer adm1": 401} {
		r := httptest.NewRequest("POST", "/api/releases/p/1.0.0/resume", nil)
		r.Header.Set("Authorization", auth)
		// The operator listener grants no writes.
		r = r.WithContext(WithOperator(r.Context()))
		if got := do(h, r).Code; got != want {
			t.Errorf("%q: %d, want %d", auth, got, want)
		}
	}
	if got := do((&Guard{}).AdminHandler(http.HandlerFunc(ok)), httptest.NewRequest("POST", "/", nil)).Code; got != 403 {
		t.Errorf("without an admin token: %d", got)
	}
}

func TestLoginCookie(t *testing.T) {
	g := &Guard{Read: StaticSecret("r3ad"), Admin: StaticSecret("adm1n")}
	page := httptest.NewRequest("GET", "/ui/devices?q=a", nil)
	page.Header.Set("Accept", "text/html")
	w := do(g.ReadHandler(http.HandlerFunc(ok)), page)
	if w.Code != 401 || !strings.Contains(w.Body.String(), `action="/login"`) || !strings.Contains(w.Body.String(), `value="/ui/devices?q=a"`) {
		t.Fatalf("page without a session: %d %s", w.Code, w.Body)
	}
	login := func(tok, next string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"token": {tok}, "next": {next}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(http.HandlerFunc(g.Login), r)
	}
	if w := login("wrong", "/"); w.Code != 401 || len(w.Result().Cookies()) != 0 {
		t.Fatalf("wrong token: %d %v", w.Code, w.Result().Cookies())
	}
	w = login("r3ad", "//evil.example/")
	if w.Code != 303 || w.Header().Get("Location") != "/" {
		t.Fatalf("login: %d to %q", w.Code, w.Header().Get("Location"))
	}
	c := w.Result().Cookies()
	if len(c) != 1 || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || strings.Contains(c[0].Value, "r3ad") {
		t.Fatalf("cookie %+v", c)
	}
	r := httptest.NewRequest("GET", "/ui/devices", nil)
	r.AddCookie(c[0])
	if got := do(g.ReadHandler(http.HandlerFunc(ok)), r).Code; got != 200 {
		t.Fatalf("with the session: %d", got)
	}
	// A session grants no writes, even one made with the admin token.
	ac := login("adm1n", "/ui/").Result().Cookies()[0]
	r = httptest.NewRequest("POST", "/api/releases/p/1.0.0/resume", nil)
	r.AddCookie(ac)
	if got := do(g.AdminHandler(http.HandlerFunc(ok)), r).Code; got != 401 {
		t.Fatalf("admin call with a session: %d", got)
	}
	// Rotating the token ends the session.
	g.Read = StaticSecret("n3w")
	r = httptest.NewRequest("GET", "/ui/devices", nil)
	r.AddCookie(c[0])
	if got := do(g.ReadHandler(http.HandlerFunc(ok)), r).Code; got != 401 {
		t.Fatalf("old session after rotation: %d", got)
	}
}

func TestRefusalsLoggedRateLimitedWithoutToken(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1e9, 0)
	g := &Guard{Admin: StaticSecret("adm1n"), Logger: slog.New(slog.NewTextHandler(&buf, nil)), Now: func() time.Time { return now }}
	h := g.AdminHandler(http.HandlerFunc(ok))
	try := func() {
		r := httptest.NewRequest("POST", "/x", nil)
		r.Header.Set("Authorization", "Bearer s3cret-guess")
		do(h, r)
	}
	for range 5 {
		try()
	}
	now = now.Add(time.Second)
	try()
	out := buf.String()
	if n := strings.Count(out, "operator token refused"); n != 2 {
		t.Fatalf("%d records, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "refusals_not_logged=4") || strings.Contains(out, "s3cret") {
		t.Fatalf("log:\n%s", out)
	}
}

func TestSecretReload(t *testing.T) {
	f := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(f, []byte("one\n"), 0o600)
	s, err := NewSecret("read token", f, "")
	if err != nil || string(s.Bytes()) != "one" {
		t.Fatalf("%q %v", s.Bytes(), err)
	}
	os.WriteFile(f, []byte("two"), 0o600)
	if err := s.Reload(); err != nil || string(s.Bytes()) != "two" {
		t.Fatalf("%q %v", s.Bytes(), err)
	}
	os.Remove(f)
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "read token") || string(s.Bytes()) != "two" {
		t.Fatalf("reload of a missing file: %v, kept %q", err, s.Bytes())
	}
	t.Setenv("OTAGIT_TEST_TOKEN", " env ")
	e, err := NewSecret("t", "", "OTAGIT_TEST_TOKEN")
	if err != nil || string(e.Bytes()) != "env" {
		t.Fatalf("%q %v", e.Bytes(), err)
	}
}

func TestReadSecret(t *testing.T) {
	f := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(f, []byte("from-file\n"), 0o600)
	t.Setenv("OTAGIT_TEST_SECRET", "from-env")
	if got, _ := ReadSecret(f, "OTAGIT_TEST_SECRET"); string(got) != "from-file" {
		t.Errorf("file: got %q", got)
	}
	if got, _ := ReadSecret("", "OTAGIT_TEST_SECRET"); string(got) != "from-env" {
		t.Errorf("env: got %q", got)
	}
	if _, err := ReadSecret(filepath.Join(t.TempDir(), "missing"), "X"); err == nil {
		t.Errorf("missing file: no error")
	}
}

func TestClientAddr(t *testing.T) {
	p, err := ParseProxies([]string{"10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, peer, xff, fwd, want string
	}{
		{"untrusted peer's header ignored", "192.0.2.1:5000", "203.0.113.9", "", "192.0.2.1:5000"},
		{"trusted proxy", "10.0.0.2:5000", "203.0.113.9", "", "203.0.113.9"},
		{"spoofed left entry skipped", "10.0.0.2:5000", "6.6.6.6, 203.0.113.9, 10.0.0.3", "", "203.0.113.9"},
		{"v6 proxy", "[::1]:5000", "2001:db8::7", "", "2001:db8::7"},
		{"forwarded wins", "10.0.0.2:5000", "6.6.6.6", `for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"`, "2001:db8::1"},
		{"forwarded through proxies", "10.0.0.2:5000", "", `for=192.0.2.60, for=10.1.1.1`, "192.0.2.60"},
		{"garbage ends the list", "10.0.0.2:5000", "203.0.113.9, junk, 10.0.0.3", "", "10.0.0.3"},
		{"no header", "10.0.0.2:5000", "", "", "10.0.0.2:5000"},
		{"obfuscated", "10.0.0.2:5000", "", `for=_hidden`, "10.0.0.2:5000"},
	} {
		r := httptest.NewRequest("GET", "/update", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if c.fwd != "" {
			r.Header.Set("Forwarded", c.fwd)
		}
		if got := p.ClientAddr(r); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if _, err := ParseProxies([]string{"10.0.0.0/33"}); err == nil {
		t.Error("bad CIDR accepted")
	}
}

func FuzzClientAddr(f *testing.F) {
	f.Add("10.0.0.2:1", "1.2.3.4, 10.0.0.9", `for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"`)
	f.Add("[::1]:1", ",,, ,", `for=;for="`)
	f.Add("junk", "unknown", `For="_x", by=1`)
	p, _ := ParseProxies([]string{"10.0.0.0/8", "::1/128"})
	f.Fuzz(func(t *testing.T, peer, xff, fwd string) {
		r := &http.Request{RemoteAddr: peer, Header: http.Header{"X-Forwarded-For": {xff}}}
		if fwd != "" {
			r.Header.Set("Forwarded", fwd)
		}
		got := p.ClientAddr(r)
		if got != peer {
			if _, ok := RemoteIP(got); !ok {
				t.Fatalf("derived %q is not an address", got)
			}
		}
	})
}

func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer x", "bearer  x ", "Basic abc", "", "Bearer", " Bearer\tx"} {
		f.Add(s)
	}
	g := &Guard{Read: StaticSecret("r3ad")}
	f.Fuzz(func(t *testing.T, h string) {
		r := &http.Request{Header: http.Header{"Authorization": {h}}}
		tok, ok := Bearer(r)
		if ok && tok == "" {
			t.Fatal("empty token reported")
		}
		if got, _ := g.check(r); got != grantNone && tok != "r3ad" {
			t.Fatalf("%q granted %d", h, got)
		}
	})
}
