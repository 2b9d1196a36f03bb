package githubapi

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
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
	base  http.RoundTripper
	log   *slog.Logger
	stats *apiStats
}

// apiStats counts the client's exchanges with GitHub, for metrics.
type apiStats struct {
	requests, errors atomic.Uint64
	// remaining is the last X-RateLimit-Remaining GitHub sent, -1 before
	// any.
	remaining atomic.Int64
}

// APIStats is a snapshot of a Client's exchanges with GitHub.
type APIStats struct {
	// Requests counts HTTP exchanges; Errors those that failed: no
	// answer, or a status of 400 and up other than 404 (a release or
	// asset that does not exist is an answer, not GitHub failing).
	Requests, Errors uint64
	// RateLimitRemaining is the last rate limit remaining GitHub
	// reported, -1 before GitHub reported any.
	RateLimitRemaining int64
}

// APIStats reports the client's exchanges with GitHub so far.
func (c *Client) APIStats() APIStats {
	return APIStats{Requests: c.stats.requests.Load(), Errors: c.stats.errors.Load(), RateLimitRemaining: c.stats.remaining.Load()}
}

// RoundTrip sends req and logs the exchange.
func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	took := time.Since(start).Round(time.Millisecond)
	t.stats.requests.Add(1)
	if err != nil {
		t.stats.errors.Add(1)
		t.log.Debug("github request failed", "method", req.Method, "host", req.URL.Host,
			"path", req.URL.Path, "took", took, "err", err)
		return nil, err
	}
	if resp.StatusCode >= 400 && resp.StatusCode != http.StatusNotFound {
		t.stats.errors.Add(1)
	}
	if n, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Remaining"), 10, 64); err == nil && n >= 0 {
		t.stats.remaining.Store(n)
	}
	t.log.Debug("github request", "method", req.Method, "host", req.URL.Host, "path", req.URL.Path,
		"status", resp.StatusCode, "took", took, "ratelimit_remaining", resp.Header.Get("X-RateLimit-Remaining"))
	return resp, nil
}
