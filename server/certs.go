package server

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// CertFiles is a certificate and key in PEM files that reload without a
// restart: on Reload (SIGHUP), and when a handshake finds that the files
// changed, checked at most once per CheckEvery. Connections already open
// keep the certificate they were made with; new handshakes get the new
// one. A pair that does not load is logged and the old one kept.
type CertFiles struct {
	certFile, keyFile string
	log               *slog.Logger
	// CheckEvery bounds how often a handshake looks at the files' size
	// and modification time; 0 is 10 seconds.
	CheckEvery time.Duration
	now        func() time.Time

	cert atomic.Pointer[tls.Certificate]

	mu        sync.Mutex // held while checking or loading
	lastCheck time.Time
	stamp     [2]fileStamp
	pem       [2][]byte
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// NewCertFiles loads the pair; an error here is fatal to the caller (a
// server that cannot speak TLS must not start).
func NewCertFiles(certFile, keyFile string, log *slog.Logger) (*CertFiles, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &CertFiles{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	if _, err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload loads the files again if their contents changed.
func (c *CertFiles) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastCheck = c.now()
	changed, err := c.loadLocked()
	if changed {
		c.log.Info("TLS certificate reloaded", "cert", c.certFile)
	}
	return err
}

func (c *CertFiles) load() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loadLocked()
}

// loadLocked reads both files and swaps the certificate in when their
// contents differ from the loaded ones.
func (c *CertFiles) loadLocked() (bool, error) {
	var pem [2][]byte
	var stamp [2]fileStamp
	for i, f := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return false, fmt.Errorf("TLS certificate: %w", err)
		}
		stamp[i] = fileStamp{fi.Size(), fi.ModTime()}
		if pem[i], err = os.ReadFile(f); err != nil {
			return false, fmt.Errorf("TLS certificate: %w", err)
		}
	}
	if c.cert.Load() != nil && bytes.Equal(pem[0], c.pem[0]) && bytes.Equal(pem[1], c.pem[1]) {
		c.stamp = stamp
		return false, nil
	}
	cert, err := tls.X509KeyPair(pem[0], pem[1])
	if err != nil {
		return false, fmt.Errorf("TLS certificate %s with key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&cert)
	c.pem, c.stamp = pem, stamp
	return true, nil
}

// maybeReload reloads when the files' size or time changed, at most once
// per CheckEvery; a handshake that finds the lock held does not wait.
func (c *CertFiles) maybeReload() {
	every := c.CheckEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	if !c.mu.TryLock() {
		return
	}
	defer c.mu.Unlock()
	now := c.now()
	if now.Sub(c.lastCheck) < every {
		return
	}
	c.lastCheck = now
	for i, f := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return // a renewal under way, or gone: keep serving the loaded one
		}
		if (fileStamp{fi.Size(), fi.ModTime()}) != c.stamp[i] {
			changed, err := c.loadLocked()
			switch {
			case err != nil:
				c.log.Warn("TLS certificate changed but does not load: keeping the old one", "err", err)
			case changed:
				c.log.Info("TLS certificate reloaded", "cert", c.certFile)
			}
			return
		}
	}
}

// GetCertificate is the tls.Config hook.
func (c *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.maybeReload()
	return c.cert.Load(), nil
}

// TLSConfig returns a server configuration that serves the files'
// certificate with DefaultTLS's protocol settings.
func (c *CertFiles) TLSConfig() *tls.Config {
	cfg := DefaultTLS()
	cfg.GetCertificate = c.GetCertificate
	return cfg
}

// DefaultTLS returns the TLS settings every TLS listener starts from:
// TLS 1.2 and 1.3; for TLS 1.2, forward-secret ECDHE suites with ECDSA
// or RSA certificates, AES-GCM and ChaCha20 first, then the AES-CBC
// suites that constrained clients may be limited to. BearSSL on the
// ESP8266 (WiFiClientSecure) offers the ECDHE AES-GCM, ChaCha20 and
// AES-CBC suites; mbedTLS on the ESP32 offers ECDHE AES-GCM and AES-CBC.
// Curves: X25519 and P-256 (both clients have them), P-384.
func DefaultTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
			tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		},
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384},
	}
}
