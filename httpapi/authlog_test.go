package httpapi

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestAuthLogRateLimited: a flood of refused credentials writes at most
// authLogBurst lines a minute, then one line counting the rest.
func TestAuthLogRateLimited(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var l authLog
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for i := range 1000 {
		l.refused(log, t0.Add(time.Duration(i)*time.Millisecond), "18:FE:34:00:00:01", "203.0.113.9:1", "update", "wrong credentials")
	}
	if n := strings.Count(buf.String(), "\n"); n != authLogBurst {
		t.Fatalf("%d lines for 1000 refusals in a second, want %d", n, authLogBurst)
	}
	l.refused(log, t0.Add(time.Minute), "18:FE:34:00:00:01", "203.0.113.9:1", "update", "wrong credentials")
	if !strings.Contains(buf.String(), "lines left out") || !strings.Contains(buf.String(), "count=990") {
		t.Fatalf("no summary of the 990 left out:\n%s", buf.String())
	}
}
