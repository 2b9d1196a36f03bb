package webhook

import (
	"bytes"
	"mime"
	"net/http"
	"sync"
)

// defaultMaxBuffered is Config.MaxBuffered's default: two deliveries of
// GitHub's largest size at once, many of the usual few kilobytes.
const defaultMaxBuffered = 64 << 20

// budget is the bytes that deliveries may hold in memory together.
type budget struct {
	mu        sync.Mutex
	max, used int64
	peak      int64 // the most ever used, for tests
	held      int   // deliveries holding bytes now
}

// take reserves n bytes, or reports false at once if they do not fit.
func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	b.held++
	b.peak = max(b.peak, b.used)
	return true
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	b.used -= n
	b.held--
	b.mu.Unlock()
}

func (b *budget) state() (used, peak int64, held int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak, b.held
}

// readBody reads r's body, at most maxPayload bytes, into a buffer of
// the size reserved for it.
func readBody(w http.ResponseWriter, r *http.Request, size int64) ([]byte, error) {
	var buf bytes.Buffer
	if size < maxPayload {
		buf.Grow(int(size) + 1)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, min(size, maxPayload)))
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// handled reports whether ServeHTTP acts on event; others are answered
// without reading their bodies.
func handled(event string) bool {
	switch event {
	case "ping", "push", "release", "pull_request":
		return true
	}
	return false
}

// isForm reports whether a Content-Type is GitHub's form encoding.
func isForm(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/x-www-form-urlencoded"
}
