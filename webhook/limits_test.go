package webhook

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/otagit/otagit/internal/testwait"
)

// Fault 5: 80 concurrent 25 MiB bad-signature deliveries took the server
// to 3 GB. Now the deliveries being read hold at most MaxBuffered
// together; the rest are refused at once, before their bodies are read.
func TestConcurrentDeliveriesStayWithinTheBudget(t *testing.T) {
	const size = 25 << 20
	h := New(Config{Secret: []byte("s3cret"), Syncer: &fakeSyncer{}, MaxBuffered: 2 * size})
	srv := httptest.NewServer(h)
	defer srv.Close()

	const n = 80
	writers := make([]*io.PipeWriter, n)
	codes := make([]int, n)
	var wg sync.WaitGroup
	var refused sync.WaitGroup
	refused.Add(n - 2)
	var mu sync.Mutex
	nRefused := 0
	for i := range n {
		pr, pw := io.Pipe()
		writers[i] = pw
		req, _ := http.NewRequest("POST", srv.URL, pr)
		req.ContentLength = size
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
			if resp.StatusCode == http.StatusServiceUnavailable {
				mu.Lock()
				nRefused++
				mu.Unlock()
				refused.Done()
			}
		}()
	}
	// Feed every body slowly: a megabyte each, so that the two admitted
	// ones are mid-read while the others arrive.
	chunk := make([]byte, 1<<20)
	for _, pw := range writers {
		go pw.Write(chunk)
	}
	testwait.For(t, "78 deliveries refused", func() bool { mu.Lock(); defer mu.Unlock(); return nRefused == n-2 })
	used, peak, held := h.budget.state()
	if held != 2 || used != 2*size || peak != 2*size {
		t.Fatalf("while reading: %d deliveries hold %d bytes (peak %d), want 2 holding %d", held, used, peak, 2*size)
	}
	for _, pw := range writers {
		go func() {
			for {
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, pw := range writers {
		pw.Close()
	}
	n401 := 0
	for _, c := range codes {
		if c == http.StatusUnauthorized {
			n401++
		}
	}
	if n401 != 2 {
		t.Fatalf("codes %v: want 2 bad signatures and %d busy", codes, n-2)
	}
	if used, peak, held := h.budget.state(); used != 0 || held != 0 || peak != 2*size {
		t.Fatalf("after: used %d held %d peak %d", used, held, peak)
	}
}

func TestRefusedBeforeTheBodyIsRead(t *testing.T) {
	h := New(Config{Secret: []byte("s3cret"), Syncer: &fakeSyncer{}})
	for _, c := range []struct {
		name, event, sig string
		length           int64
		want             int
	}{
		{"no signature", "push", "", 10, 401},
		{"malformed signature", "push", "sha1=abc", 10, 401},
		{"too large", "push", "sha256=" + strings.Repeat("a", 64), maxPayload + 1, 413},
		{"ignored event", "star", "sha256=" + strings.Repeat("a", 64), 10, 200},
	} {
		body := &countingReader{}
		r := httptest.NewRequest("POST", "/webhook/github", body)
		r.ContentLength = c.length
		r.Header.Set("X-GitHub-Event", c.event)
		r.Header.Set("X-Hub-Signature-256", c.sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want || body.n != 0 {
			t.Errorf("%s: %d after reading %d bytes, want %d after none", c.name, w.Code, body.n, c.want)
		}
	}
}

type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// GitHub's default content type: the JSON in a "payload" form field, the
// signature over the form.
func TestFormEncodedPush(t *testing.T) {
	syncer := &fakeSyncer{}
	secret := []byte("s3cret")
	h := New(Config{Secret: secret, Branch: "main", Syncer: syncer})
	payload := `{"ref":"refs/heads/main","after":"0123456789abcdef","repository":{"full_name":"o/r"}}`
	form := url.Values{"payload": {payload}}.Encode()
	r := httptest.NewRequest("POST", "/webhook/github", strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-GitHub-Event", "push")
	r.Header.Set("X-Hub-Signature-256", Sign(secret, []byte(form)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusAccepted || len(syncer.calls()) != 1 {
		t.Fatalf("%d %q, syncs %v", w.Code, w.Body, syncer.calls())
	}
	// Signed over the JSON instead of the form: refused.
	r = httptest.NewRequest("POST", "/webhook/github", strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-GitHub-Event", "push")
	r.Header.Set("X-Hub-Signature-256", Sign(secret, []byte(payload)))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("signature over the payload field: %d", w.Code)
	}
	// A form without the field.
	r = httptest.NewRequest("POST", "/webhook/github", strings.NewReader("x=1"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-GitHub-Event", "push")
	r.Header.Set("X-Hub-Signature-256", Sign(secret, []byte("x=1")))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest {
		t.Fatalf("form without payload: %d", w.Code)
	}
}

func TestSecretFuncReloads(t *testing.T) {
	cur := []byte("one")
	h := New(Config{SecretFunc: func() []byte { return cur }, Syncer: &fakeSyncer{}})
	ping := func(secret string) int {
		r := httptest.NewRequest("POST", "/webhook/github", strings.NewReader("{}"))
		r.Header.Set("X-GitHub-Event", "ping")
		r.Header.Set("X-Hub-Signature-256", Sign([]byte(secret), []byte("{}")))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if ping("one") != 200 {
		t.Fatal("first secret refused")
	}
	cur = []byte("two")
	if ping("one") != 401 || ping("two") != 200 {
		t.Fatal("the new secret is not used")
	}
}
