package githubapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// etagOrigin is a server that answers GET /{path} with a body, an ETag
// derived from it (none under /noetag/), and 304 for a matching
// If-None-Match. It counts 200s and 304s.
type etagOrigin struct {
	mu          sync.Mutex
	bodies      map[string]string // by path; default "body of PATH"
	ok, notMod  int
	ifNoneMatch []string // of every request, in order
}

func (o *etagOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ifNoneMatch = append(o.ifNoneMatch, r.Header.Get("If-None-Match"))
	body, ok := o.bodies[r.URL.Path]
	if !ok {
		body = "body of " + r.URL.Path + " for " + r.Header.Get("Accept")
	}
	w.Header().Set("X-RateLimit-Remaining", fmt.Sprint(5000-len(o.ifNoneMatch)))
	if !strings.HasPrefix(r.URL.Path, "/noetag/") {
		sum := sha256.Sum256([]byte(body))
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			o.notMod++
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	o.ok++
	w.Header().Set("Link", `<`+r.URL.Path+`?page=2>; rel="next"`)
	io.WriteString(w, body)
}

func (o *etagOrigin) set(path, body string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.bodies[path] = body
}

func (o *etagOrigin) counts() (ok, notModified int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ok, o.notMod
}

func (o *etagOrigin) lastIfNoneMatch() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ifNoneMatch[len(o.ifNoneMatch)-1]
}

func newETagTest(t *testing.T, maxEntries, maxBytes int) (*etagOrigin, *etagTransport, *http.Client, string) {
	t.Helper()
	origin := &etagOrigin{bodies: map[string]string{}}
	srv := httptest.NewServer(origin)
	t.Cleanup(srv.Close)
	tr := newETagTransport(http.DefaultTransport, maxEntries, maxBytes)
	return origin, tr, &http.Client{Transport: tr}, srv.URL
}

// get GETs url with accept and returns the status and body.
func get(t *testing.T, c *http.Client, url, accept string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", url, err)
	}
	if req.Header.Get("If-None-Match") != "" {
		t.Errorf("the transport modified the caller's request")
	}
	return resp, string(b)
}

func TestETagRevalidates(t *testing.T) {
	origin, tr, c, base := newETagTest(t, 10, 1<<20)

	resp1, body1 := get(t, c, base+"/releases", "")
	resp2, body2 := get(t, c, base+"/releases", "")
	if body2 != body1 || resp2.StatusCode != http.StatusOK {
		t.Errorf("second GET: got %d %q, want 200 %q", resp2.StatusCode, body2, body1)
	}
	if ok, nm := origin.counts(); ok != 1 || nm != 1 {
		t.Errorf("origin answers: got %d 200s and %d 304s, want 1 and 1", ok, nm)
	}
	if got, want := resp2.Header.Get("Link"), resp1.Header.Get("Link"); got != want || got == "" {
		t.Errorf("Link from the cache: got %q, want %q", got, want)
	}
	// The rate limit headers are the 304's: they are current.
	if got, want := resp2.Header.Get("X-RateLimit-Remaining"), "4998"; got != want {
		t.Errorf("X-RateLimit-Remaining: got %q, want %q", got, want)
	}
	if got, want := resp2.ContentLength, int64(len(body1)); got != want {
		t.Errorf("ContentLength: got %d, want %d", got, want)
	}

	// New content: a 200 that replaces the remembered one.
	origin.set("/releases", "new body")
	if _, got := get(t, c, base+"/releases", ""); got != "new body" {
		t.Errorf("after a change: got %q, want %q", got, "new body")
	}
	if _, got := get(t, c, base+"/releases", ""); got != "new body" {
		t.Errorf("after a change, from the cache: got %q, want %q", got, "new body")
	}
	if ok, nm := origin.counts(); ok != 2 || nm != 2 {
		t.Errorf("origin answers: got %d 200s and %d 304s, want 2 and 2", ok, nm)
	}
	if n := tr.count(); n != 1 {
		t.Errorf("entries: got %d, want 1", n)
	}
}

func TestETagKeys(t *testing.T) {
	type req struct{ method, path, accept string }
	tests := []struct {
		name          string
		first, second req
		wantIfNone    bool
	}{
		{"same URL", req{"GET", "/a", ""}, req{"GET", "/a", ""}, true},
		{"other query", req{"GET", "/a?page=1", ""}, req{"GET", "/a?page=2", ""}, false},
		{"other Accept", req{"GET", "/asset", "application/json"}, req{"GET", "/asset", "application/octet-stream"}, false},
		{"POST is never conditional", req{"GET", "/s", ""}, req{"POST", "/s", ""}, false},
		{"no ETag, nothing remembered", req{"GET", "/noetag/x", ""}, req{"GET", "/noetag/x", ""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origin, _, c, base := newETagTest(t, 10, 1<<20)
			for _, r := range []req{tt.first, tt.second} {
				resp, err := c.Do(mustReq(r.method, base+r.path, r.accept))
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if got := origin.lastIfNoneMatch() != ""; got != tt.wantIfNone {
				t.Errorf("second request conditional: got %v, want %v", got, tt.wantIfNone)
			}
		})
	}
}

func mustReq(method, url, accept string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return req
}

func TestETagBounds(t *testing.T) {
	t.Run("entries, least recently used first", func(t *testing.T) {
		origin, tr, c, base := newETagTest(t, 2, 1<<20)
		get(t, c, base+"/a", "")
		get(t, c, base+"/b", "")
		get(t, c, base+"/a", "") // a is now the most recently used
		get(t, c, base+"/c", "") // evicts b
		if n := tr.count(); n != 2 {
			t.Errorf("entries: got %d, want 2", n)
		}
		get(t, c, base+"/a", "")
		if origin.lastIfNoneMatch() == "" {
			t.Error("a was evicted, want b evicted")
		}
		get(t, c, base+"/b", "")
		if origin.lastIfNoneMatch() != "" {
			t.Error("b was kept, want it evicted")
		}
	})
	t.Run("bytes", func(t *testing.T) {
		origin, tr, c, base := newETagTest(t, 100, 100)
		origin.set("/a", strings.Repeat("a", 60))
		origin.set("/b", strings.Repeat("b", 60))
		get(t, c, base+"/a", "")
		get(t, c, base+"/b", "") // 120 bytes > 100: evicts a
		if n := tr.count(); n != 1 {
			t.Errorf("entries: got %d, want 1", n)
		}
	})
	t.Run("large body passes through", func(t *testing.T) {
		origin, tr, c, base := newETagTest(t, 10, 1<<20)
		tr.maxBody = 1000
		big := strings.Repeat("x", 5000)
		origin.set("/big", big)
		for range 2 {
			if _, got := get(t, c, base+"/big", ""); got != big {
				t.Fatalf("large body: got %d bytes, want %d", len(got), len(big))
			}
		}
		if ok, _ := origin.counts(); ok != 2 || tr.count() != 0 {
			t.Errorf("got %d 200s and %d entries, want 2 and 0 (not cached)", ok, tr.count())
		}
	})
}

func TestETagConcurrent(t *testing.T) {
	_, _, c, base := newETagTest(t, 4, 1<<20)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			path := fmt.Sprintf("/p%d", i%6)
			req := mustReq("GET", base+path, "")
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := "body of " + path + " for "; string(b) != want {
				t.Errorf("GET %s: got %q, want %q", path, b, want)
			}
		})
	}
	wg.Wait()
}
