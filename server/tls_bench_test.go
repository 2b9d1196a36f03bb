package server

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkTLS304NewConnection: an up-to-date device's poll over TLS on a
// new connection (full handshake, no session resumption, as a device
// makes it), from otagit and from a bare Go TLS server that answers 304
// with the same TLS settings, for an ECDSA P-256 and an RSA-2048
// certificate. Compare otagit/bare within one run:
//
//	go test ./server -run '^$' -bench TLS304 -count 3
func BenchmarkTLS304NewConnection(b *testing.B) {
	for _, kind := range []string{"ecdsa", "rsa"} {
		cert := makeCert(b, b.TempDir(), kind, "bench")
		certs, err := NewCertFiles(cert.certFile, cert.keyFile, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(kind+"/bare", func(b *testing.B) {
			benchPolls(b, bareTLS(b, certs))
		})
		b.Run(kind+"/otagit", func(b *testing.B) {
			repo, commit := starter(b, 0)
			srv := start(b, repo.Bare, func(c *Config) {
				c.Listeners = []Listener{{Addr: "127.0.0.1:0"}, {Addr: "127.0.0.1:0", TLS: certs.TLSConfig()}}
				c.CheckIns = true
			})
			waitServing(b, srv.addrs[0], commit)
			benchPolls(b, srv.addrs[1])
		})
	}
}

// BenchmarkTLS304Alternating measures the ratio that matters on a shared
// machine: rounds of polls on new TLS connections, alternating between
// the bare server and otagit, reported as polls/s of each and
// otagit/bare. Run it once:
//
//	go test ./server -run '^$' -bench TLS304Alternating -benchtime 1x
func BenchmarkTLS304Alternating(b *testing.B) {
	const rounds, perRound, clients = 6, 300, 4
	for _, kind := range []string{"ecdsa", "rsa"} {
		cert := makeCert(b, b.TempDir(), kind, "bench")
		certs, err := NewCertFiles(cert.certFile, cert.keyFile, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(kind, func(b *testing.B) {
			bare := bareTLS(b, certs)
			repo, commit := starter(b, 0)
			srv := start(b, repo.Bare, func(c *Config) {
				c.Listeners = []Listener{{Addr: "127.0.0.1:0"}, {Addr: "127.0.0.1:0", TLS: certs.TLSConfig()}}
			})
			waitServing(b, srv.addrs[0], commit)
			var tBare, tOtagit time.Duration
			for range b.N {
				for range rounds {
					tBare += timePolls(b, bare, perRound, clients)
					tOtagit += timePolls(b, srv.addrs[1], perRound, clients)
				}
			}
			n := float64(b.N * rounds * perRound)
			b.ReportMetric(n/tBare.Seconds(), "bare_polls/s")
			b.ReportMetric(n/tOtagit.Seconds(), "otagit_polls/s")
			b.ReportMetric(tBare.Seconds()/tOtagit.Seconds(), "otagit/bare")
		})
	}
}

// bareTLS starts the baseline, a bare net/http server answering every
// request 304 over TLS with certs, until b ends, and returns its address.
func bareTLS(b *testing.B, certs *CertFiles) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotModified)
	}), TLSConfig: certs.TLSConfig(), ReadHeaderTimeout: readHeaderTimeout}
	go srv.ServeTLS(ln, "", "")
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// timePolls times n polls on new TLS connections from clients goroutines.
func timePolls(b *testing.B, addr string, n, clients int) time.Duration {
	req := lampRequest("18:FE:34:A1:00:01", "1.1.0")
	conf := &tls.Config{InsecureSkipVerify: true}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := poll(addr, req, conf); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func poll(addr, req string, conf *tls.Config) error {
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		return err
	}
	defer c.Close()
	io.WriteString(c, req)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotModified {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	return nil
}

// benchPolls makes b.N polls, each on a new TLS connection, from as many
// goroutines as GOMAXPROCS.
func benchPolls(b *testing.B, addr string) {
	req := lampRequest("18:FE:34:A1:00:01", "1.1.0")
	conf := &tls.Config{InsecureSkipVerify: true} // the client's checks are not what is measured
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := tls.Dial("tcp", addr, conf)
			if err != nil {
				b.Error(err)
				return
			}
			io.WriteString(c, req)
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				b.Error(err)
				c.Close()
				return
			}
			res.Body.Close()
			c.Close()
			if res.StatusCode != http.StatusNotModified {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}

// BenchmarkTLSHandshake is one full TLS 1.3 and 1.2 handshake over an
// in-memory pipe with the server's settings: what each new device
// connection costs both ends.
func BenchmarkTLSHandshake(b *testing.B) {
	for _, kind := range []string{"ecdsa", "rsa"} {
		cert := makeCert(b, b.TempDir(), kind, "bench")
		certs, err := NewCertFiles(cert.certFile, cert.keyFile, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			name := kind + "/tls1.2"
			if v == tls.VersionTLS13 {
				name = kind + "/tls1.3"
			}
			b.Run(name, func(b *testing.B) {
				for range b.N {
					cc, sc := net.Pipe()
					srv := tls.Server(sc, certs.TLSConfig())
					done := make(chan error, 1)
					go func() { done <- srv.Handshake() }()
					cl := tls.Client(cc, &tls.Config{InsecureSkipVerify: true, MaxVersion: v})
					if err := cl.Handshake(); err != nil {
						b.Fatal(err)
					}
					if err := <-done; err != nil {
						b.Fatal(err)
					}
					cc.Close()
					sc.Close()
				}
			})
		}
	}
}
