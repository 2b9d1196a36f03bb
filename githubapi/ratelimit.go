package githubapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-github/v60/github"
)

// defaultRetryAfter is how long to hold off when GitHub reports a
// secondary rate limit without saying for how long; GitHub's guidance is
// "at least one minute".
const defaultRetryAfter = time.Minute

// RateLimitedError is returned by Client calls while a GitHub rate limit
// is in force. It matches ErrRateLimited.
type RateLimitedError struct {
	// Until is when the limit resets and calls may be made again.
	Until time.Time
	// Err is GitHub's answer that reported the limit; nil when the call
	// was refused locally because a limit was already known.
	Err error
}

// Error says until when the limit holds.
func (e *RateLimitedError) Error() string {
	msg := fmt.Sprintf("GitHub API rate limit exceeded until %s", e.Until.UTC().Format(time.RFC3339))
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is ErrRateLimited.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// Unwrap returns GitHub's answer, if any.
func (e *RateLimitedError) Unwrap() error { return e.Err }

// RateLimitedUntil returns when the rate limit GitHub last reported
// resets, or the zero time if no limit is in force. Until then every call
// fails with ErrRateLimited without reaching GitHub.
func (c *Client) RateLimitedUntil() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.now().Before(c.limitedUntil) {
		return time.Time{}
	}
	return c.limitedUntil
}

// limit records a rate limit that lasts until the given time.
func (c *Client) limit(until time.Time, op, repo string) {
	c.mu.Lock()
	if until.After(c.limitedUntil) {
		c.limitedUntil = until
	}
	c.mu.Unlock()
	c.log.Warn("GitHub rate limit exceeded: holding off", "op", op, "repo", repo,
		"until", until.UTC().Format(time.RFC3339), "wait", until.Sub(c.now()).Round(time.Second))
}

// rateLimitReset reports whether err is a GitHub rate limit, and if so
// when it resets. A reset that is missing or already past is treated as
// one minute from now: GitHub said "stop", so we stop for a while.
func rateLimitReset(err error, now time.Time) (time.Time, bool) {
	var (
		primary   *github.RateLimitError
		secondary *github.AbuseRateLimitError
		resp      *github.ErrorResponse
		until     time.Time
	)
	switch {
	case errors.As(err, &primary):
		until = primary.Rate.Reset.Time
	case errors.As(err, &secondary):
		if secondary.RetryAfter != nil {
			until = now.Add(*secondary.RetryAfter)
		}
	case errors.As(err, &resp) && resp.Response != nil && resp.Response.StatusCode == http.StatusTooManyRequests:
		// Some endpoints answer a secondary limit with 429 instead of 403,
		// which go-github does not recognise.
		if secs, err := strconv.Atoi(resp.Response.Header.Get("Retry-After")); err == nil {
			until = now.Add(time.Duration(secs) * time.Second)
		}
	default:
		return time.Time{}, false
	}
	if !until.After(now) {
		until = now.Add(defaultRetryAfter)
	}
	return until, true
}
