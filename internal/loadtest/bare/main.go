// Command bare is the baseline of load tests: a bare net/http server that
// answers every request 304, as otagit answers an up-to-date device, with
// the same server timeouts. The ratio of otagit's throughput to this one's
// on the same machine in the same run is what load tests track.
//
//	go run ./internal/loadtest/bare -listen 127.0.0.1:18081
//
// With -tls-cert and -tls-key it speaks TLS with otagit's TLS settings
// (server.DefaultTLS), the baseline of scripts/loadtest-tls.sh.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/otagit/otagit/server"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "address to listen on")
	cert := flag.String("tls-cert", "", "PEM certificate file: serve TLS")
	key := flag.String("tls-key", "", "PEM key file for -tls-cert")
	flag.Parse()
	srv := &http.Server{
		Addr: *listen,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotModified)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	if *cert != "" {
		srv.TLSConfig = server.DefaultTLS()
		log.Fatal(srv.ListenAndServeTLS(*cert, *key))
	}
	log.Fatal(srv.ListenAndServe())
}
