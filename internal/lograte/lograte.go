// Package lograte bounds the log records of refusals that anyone can
// cause as fast as they like (wrong device credentials, wrong operator
// tokens), so that a flood cannot fill the log, while still saying how
// many records were left out.
package lograte

import (
	"sync"
	"time"
)

// Limiter lets Burst records through per Window; the window starts with
// the first record let through after the last one ended. The zero value
// lets every record through. A Limiter is safe for concurrent use.
type Limiter struct {
	Burst  int
	Window time.Duration

	mu      sync.Mutex // guards the fields below
	start   time.Time
	used    int
	skipped int
}

// Allow reports whether a record may be written at now and, when it may,
// how many records were left out since the last one let through.
func (l *Limiter) Allow(now time.Time) (ok bool, skipped int) {
	if l.Burst <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() || now.Sub(l.start) >= l.Window {
		l.start, l.used = now, 0
	}
	if l.used >= l.Burst {
		l.skipped++
		return false, 0
	}
	l.used++
	skipped, l.skipped = l.skipped, 0
	return true, skipped
}
