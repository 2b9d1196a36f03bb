package githubapi

import (
	"log/slog"
	"net/http"
	"time"
)

// authTransport adds the token to requests for the API host only. Asset
// downloads are redirected to other hosts (with credentials in the URL),
// and the token must never leak there; GitHub Enterprise serves some
// downloads from its own host, which does need it.
type authTransport struct {
	base  http.RoundTripper
	token string
	host  string // host[:port] of the API base URL
}

// RoundTrip sends req, with the token if it goes to the API host.
func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.token == "" || req.URL.Host != t.host {
		return t.base.RoundTrip(req)
	}
	// A RoundTripper must not modify the caller's request.
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+t.token)
	return t.base.RoundTrip(req)
}

// logTransport writes a debug record per HTTP exchange. It logs the host
// and path only: download URLs carry signed credentials in their query,
// and headers carry the token.
type logTransport struct {
	base http.RoundTripper
	log  *slog.Logger
}

// RoundTrip sends req and logs the exchange.
func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		t.log.Debug("github request failed", "method", req.Method, "host", req.URL.Host,
			"path", req.URL.Path, "took", took, "err", err)
		return nil, err
	}
	t.log.Debug("github request", "method", req.Method, "host", req.URL.Host, "path", req.URL.Path,
		"status", resp.StatusCode, "took", took, "ratelimit_remaining", resp.Header.Get("X-RateLimit-Remaining"))
	return resp, nil
}
