package server

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otagit/otagit/access"
	"github.com/otagit/otagit/commitsig"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/internal/testwait"
)

// testCert is a self-signed certificate for 127.0.0.1 in PEM files.
type testCert struct {
	certFile, keyFile string
	pool              *x509.CertPool
	leaf              *x509.Certificate
}

// makeCert writes a self-signed certificate for 127.0.0.1 and localhost
// with a new key of kind "ecdsa" (P-256) or "rsa" (2048 bits) into dir,
// as cert.pem and key.pem.
func makeCert(t testing.TB, dir, kind, name string) testCert {
	t.Helper()
	var key crypto.Signer
	var err error
	switch kind {
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := testCert{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool(), leaf: leaf}
	c.pool.AddCert(leaf)
	// Written next to the target and renamed, as certbot and friends do,
	// so that no handshake sees half a file.
	for f, b := range map[string][]byte{
		c.certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		c.keyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(f+".new", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f+".new", f); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// tlsClient returns a client that trusts pool and opens a new connection
// for every request, as a device does.
func tlsClient(pool *x509.CertPool) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		DisableKeepAlives: true,
	}}
}

func get(t *testing.T, c *http.Client, url string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// lampHeaders are what an ESP8266 smart lamp sends with /update.
func lampHeaders(mac string) []string {
	return []string{"User-Agent", "ESP8266-http-Update", "x-ESP8266-STA-MAC", mac, "x-ESP8266-mode", "sketch"}
}

// TestTLSEndToEnd: the device flow over TLS next to plain HTTP, with
// ECDSA P-256 and RSA-2048 certificates; the read API refused on device
// listeners without a token, served with one and on the operator
// listener; the device address from a trusted proxy's header; a
// certificate swapped while serving; SIGHUP reloading the tokens.
func TestTLSEndToEnd(t *testing.T) {
	for _, kind := range []string{"ecdsa", "rsa"} {
		t.Run(kind, func(t *testing.T) { testTLSEndToEnd(t, kind) })
	}
}

func testTLSEndToEnd(t *testing.T, kind string) {
	const size = 64 << 10
	repo, commit := starter(t, size)
	dir := t.TempDir()
	first := makeCert(t, dir, kind, "first")
	certs, err := NewCertFiles(first.certFile, first.keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	readFile := filepath.Join(dir, "read-token")
	os.WriteFile(readFile, []byte("r3ad\n"), 0o600)
	read, err := access.NewSecret("read token", readFile, "")
	if err != nil {
		t.Fatal(err)
	}
	proxies, _ := access.ParseProxies([]string{"127.0.0.1/32"})
	hup := make(chan os.Signal, 1)
	srv := start(t, repo.Bare, func(c *Config) {
		c.Listeners = []Listener{{Addr: "127.0.0.1:0"}, {Addr: "127.0.0.1:0", TLS: certs.TLSConfig()}, {Addr: "127.0.0.1:0", Operator: true}}
		c.ReadToken, c.AdminToken = read, access.StaticSecret("adm1n")
		c.TrustedProxies = proxies
		c.Reload, c.Reloaders = hup, []Reloader{read, certs}
	})
	plain, secure, operator := "http://"+srv.addrs[0], "https://"+srv.addrs[1], "http://"+srv.addrs[2]
	waitServing(t, srv.addrs[0], commit)
	client := tlsClient(first.pool)

	// The device flow over TLS: offered the image, then up to date.
	const lamp = "18:FE:34:A1:00:01"
	code, body := get(t, client, secure+"/update?dev=smart-lamp&ver=1.1.0", append(lampHeaders(lamp), "X-Forwarded-For", "203.0.113.7")...)
	if code != 200 || len(body) != size {
		t.Fatalf("update over TLS: %d with %d bytes, want 200 with %d", code, len(body), size)
	}
	if code, _ := get(t, client, secure+"/update?dev=smart-lamp&ver=1.2.0", lampHeaders(lamp)...); code != 304 {
		t.Fatalf("up-to-date lamp over TLS: %d, want 304", code)
	}
	if code, _ := get(t, http.DefaultClient, plain+"/update?dev=smart-lamp&ver=1.2.0", lampHeaders(lamp)...); code != 304 {
		t.Fatalf("plain listener next to TLS: %d, want 304", code)
	}
	// A plain request to the TLS port is not served.
	if res, err := http.Get("http://" + srv.addrs[1] + "/healthz"); err == nil {
		if res.StatusCode == 200 {
			t.Fatal("the TLS listener answered plain HTTP")
		}
		res.Body.Close()
	}

	// The read API: refused on device listeners without a token, served
	// with it (any case of the scheme), and on the operator listener.
	for _, base := range []string{plain, secure} {
		if code, _ := get(t, client, base+"/api/devices"); code != 401 {
			t.Errorf("%s/api/devices without a token: %d, want 401", base, code)
		}
		if code, _ := get(t, client, base+"/api/devices", "Authorization", "Bearer wrong"); code != 401 {
			t.Errorf("%s/api/devices with a wrong token: %d, want 401", base, code)
		}
		if code, _ := get(t, client, base+"/", "Accept", "text/html"); code != 401 {
			t.Errorf("%s/ (dashboard) without a token: %d, want 401", base, code)
		}
		if code, _ := get(t, client, base+"/healthz"); code != 200 {
			t.Errorf("%s/healthz: %d, want 200", base, code)
		}
	}
	testwait.For(t, "the check-in to show the device's address from the proxy's header", func() bool {
		code, body := get(t, client, secure+"/api/devices/"+lamp, "Authorization", "bearer r3ad")
		return code == 200 && strings.Contains(body, "203.0.113.7")
	})
	if code, body := get(t, http.DefaultClient, operator+"/api/devices"); code != 200 || !strings.Contains(body, lamp) {
		t.Fatalf("operator listener: %d %s", code, body)
	}
	if code, _ := get(t, client, secure+"/api/devices", "Authorization", "Bearer adm1n"); code != 200 {
		t.Fatalf("admin token for read: %d", code)
	}

	// A certificate swapped while serving: a connection made with the old
	// one keeps working; a new handshake sees the new one.
	keep, err := tls.Dial("tcp", srv.addrs[1], &tls.Config{RootCAs: first.pool})
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	br := bufio.NewReader(keep)
	keepAlive := func() int {
		t.Helper()
		io.WriteString(keep, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("old connection: %v", err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if keepAlive() != 200 {
		t.Fatal("old connection before the swap")
	}
	second := makeCert(t, dir, kind, "second")
	hup <- syscall.SIGHUP
	testwait.For(t, "new handshakes to get the new certificate", func() bool {
		c, err := tls.Dial("tcp", srv.addrs[1], &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName == "second"
	})
	if keepAlive() != 200 {
		t.Fatal("old connection after the swap")
	}
	if code, _ := get(t, tlsClient(second.pool), secure+"/update?dev=smart-lamp&ver=1.2.0", lampHeaders(lamp)...); code != 304 {
		t.Fatalf("device trusting the new certificate: %d", code)
	}

	// SIGHUP reloads the read token (the server does not stop).
	os.WriteFile(readFile, []byte("n3w"), 0o600)
	hup <- syscall.SIGHUP
	testwait.For(t, "the new read token", func() bool {
		code, _ := get(t, http.DefaultClient, plain+"/api/devices", "Authorization", "Bearer n3w")
		return code == 200
	})
	if code, _ := get(t, http.DefaultClient, plain+"/api/devices", "Authorization", "Bearer r3ad"); code != 401 {
		t.Fatalf("old read token after reload: %d", code)
	}

	// curl, as an operator would check it, when it is installed.
	if curl, err := exec.LookPath("curl"); err != nil {
		t.Log("curl not installed: the curl --cacert check is skipped")
	} else {
		out, err := exec.Command(curl, "-sS", "--cacert", second.certFile, "-o", "/dev/null", "-w", "%{http_code}",
			"-H", "Authorization: Bearer n3w", secure+"/api/devices").CombinedOutput()
		if err != nil || string(out) != "200" {
			t.Fatalf("curl --cacert: %v %s", err, out)
		}
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestCertFilesPickUpRenewal: a renewed certificate file is picked up at
// a handshake without SIGHUP, and a broken one keeps the old.
func TestCertFilesPickUpRenewal(t *testing.T) {
	dir := t.TempDir()
	makeCert(t, dir, "ecdsa", "first")
	c, err := NewCertFiles(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1e9, 0)
	c.now = func() time.Time { return now }
	cn := func() string {
		cert, _ := c.GetCertificate(nil)
		leaf, _ := x509.ParseCertificate(cert.Certificate[0])
		return leaf.Subject.CommonName
	}
	cn() // checks now
	makeCert(t, dir, "ecdsa", "second")
	if got := cn(); got != "first" {
		t.Fatalf("checked again before CheckEvery: %s", got)
	}
	now = now.Add(11 * time.Second)
	if got := cn(); got != "second" {
		t.Fatalf("after the renewal: %s", got)
	}
	os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("not a certificate"), 0o600)
	now = now.Add(11 * time.Second)
	if got := cn(); got != "second" {
		t.Fatalf("a broken file replaced the certificate: %s", got)
	}
	if err := c.Reload(); err == nil {
		t.Fatal("Reload of a broken file: no error")
	}
}

// TestReloadFailureKeepsServing: a reloader that fails is logged and the
// others still reload; the keys' reloader hands its keys to the store; the
// server keeps serving.
func TestReloadFailureKeepsServing(t *testing.T) {
	repo, commit := starter(t, 0)
	var logs syncBuffer
	hup := make(chan os.Signal, 1)
	var keyCalls, okCalls atomic.Int32
	srv := start(t, repo.Bare, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.Reload = hup
		c.Reloaders = []Reloader{
			ReloadFunc(func() error { return errors.New("token file: permission denied") }),
			ReloadFunc(func() error { okCalls.Add(1); return nil }),
		}
		c.ReloadKeys = func() (*config.Trust, *commitsig.Keyring, error) {
			keyCalls.Add(1)
			return &config.Trust{}, nil, nil
		}
	})
	waitServing(t, srv.addrs[0], commit)
	hup <- syscall.SIGHUP
	testwait.For(t, "the reload to finish", func() bool { return strings.Contains(logs.String(), "msg=reloaded") })
	if okCalls.Load() != 1 || keyCalls.Load() != 1 {
		t.Fatalf("reloaders called %d, keys %d times", okCalls.Load(), keyCalls.Load())
	}
	if !strings.Contains(logs.String(), "reload failed: keeping the old value") || !strings.Contains(logs.String(), "permission denied") {
		t.Fatalf("the failure is not logged:\n%s", logs.String())
	}
	waitServing(t, srv.addrs[0], commit)
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
}
