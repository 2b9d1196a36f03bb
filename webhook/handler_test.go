package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeSyncer records Trigger calls.
type fakeSyncer struct {
	mu      sync.Mutex
	reasons []string
}

func (s *fakeSyncer) Trigger(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reasons = append(s.reasons, reason)
}

func (s *fakeSyncer) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reasons)
}

// logRecords is a slog.Handler that keeps every record.
type logRecords struct {
	mu      *sync.Mutex
	records *[]slog.Record
	attrs   []slog.Attr
}

func newLogRecords() logRecords {
	return logRecords{mu: new(sync.Mutex), records: new([]slog.Record)}
}

func (h logRecords) Enabled(context.Context, slog.Level) bool { return true }

func (h logRecords) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, r)
	return nil
}

func (h logRecords) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(slices.Clone(h.attrs), as...)
	return h
}

func (h logRecords) WithGroup(string) slog.Handler { return h }

func (h logRecords) all() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*h.records)
}

func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

const (
	testSecret = "It's a Secret to Everybody"
	afterSHA   = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
	testRepo   = "acme/fleet-config"
)

// pushPayload is a push delivery as GitHub sends it, trimmed of the
// fields nothing reads.
func pushPayload(ref, after string) []byte {
	return fmt.Appendf(nil, `{
  "ref": %q,
  "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
  "after": %q,
  "repository": {
    "id": 186853002,
    "name": "fleet-config",
    "full_name": "acme/fleet-config",
    "private": true,
    "owner": {"name": "acme", "login": "acme", "id": 21031067},
    "default_branch": "main"
  },
  "pusher": {"name": "octocat", "email": "octocat@github.com"},
  "sender": {"login": "octocat", "id": 583231, "type": "User"},
  "created": false,
  "deleted": false,
  "forced": false,
  "base_ref": null,
  "compare": "https://github.com/acme/fleet-config/compare/6113728f27ae...0d1a26e67d8f",
  "commits": [
    {
      "id": %q,
      "message": "lamp: release 1.9.0",
      "timestamp": "2024-05-01T12:00:00+02:00",
      "author": {"name": "Mona", "email": "mona@example.com", "username": "mona"},
      "added": ["firmware/lamp-1.9.0.bin"],
      "removed": [],
      "modified": ["platforms/lamp.toml"]
    }
  ],
  "head_commit": {"id": %q, "message": "lamp: release 1.9.0"}
}`, ref, after, after, after)
}

var pingPayload = []byte(`{"zen":"Keep it logically awesome.","hook_id":109948940,"hook":{"type":"Repository","id":109948940,"name":"web","active":true,"events":["push"],"config":{"content_type":"json","insecure_ssl":"0","url":"https://ota.example.com/webhook/github"}},"repository":{"full_name":"acme/fleet-config"},"sender":{"login":"octocat"}}`)

// delivery builds a POST as GitHub makes it. An empty event or sig leaves
// that header out.
func delivery(event string, body io.Reader, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhook/github", body)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "GitHub-Hookshot/044aadd")
	r.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	r.Header.Set("X-GitHub-Hook-ID", "109948940")
	if event != "" {
		r.Header.Set("X-GitHub-Event", event)
	}
	if sig != "" {
		r.Header.Set("X-Hub-Signature-256", sig)
	}
	return r
}

func TestHandler(t *testing.T) {
	secret := []byte(testSecret)
	push := func(ref string) []byte { return pushPayload(ref, afterSHA) }
	tests := []struct {
		name        string
		secret      []byte // configured secret
		branch      string
		event       string
		body        []byte
		signWith    []byte // secret to sign with; nil signs with secret
		noSig       bool
		wantStatus  int
		wantReasons []string
		wantBody    string
	}{
		{
			name: "no secret configured", secret: nil, event: "push", body: push("refs/heads/main"),
			signWith: []byte{}, wantStatus: http.StatusForbidden, wantBody: "no webhook secret",
		},
		{
			name: "empty secret configured", secret: []byte{}, event: "push", body: push("refs/heads/main"),
			signWith: []byte{}, wantStatus: http.StatusForbidden, wantBody: "no webhook secret",
		},
		{
			name: "bad signature", secret: secret, event: "push", body: push("refs/heads/main"),
			signWith: []byte("not the secret"), wantStatus: http.StatusUnauthorized, wantBody: "signature does not match",
		},
		{
			name: "bad signature on ping", secret: secret, event: "ping", body: pingPayload,
			signWith: []byte("not the secret"), wantStatus: http.StatusUnauthorized,
		},
		{
			name: "missing signature", secret: secret, event: "push", body: push("refs/heads/main"),
			noSig: true, wantStatus: http.StatusUnauthorized, wantBody: "missing X-Hub-Signature-256",
		},
		{
			name: "ping", secret: secret, event: "ping", body: pingPayload,
			wantStatus: http.StatusOK, wantBody: "pong",
		},
		{
			name: "push to main", secret: secret, event: "push", body: push("refs/heads/main"),
			wantStatus: http.StatusAccepted, wantReasons: []string{"push 0d1a26e67d8f"}, wantBody: "sync triggered",
		},
		{
			name: "push with short after", secret: secret, event: "push", body: pushPayload("refs/heads/main", "abc"),
			wantStatus: http.StatusAccepted, wantReasons: []string{"push abc"},
		},
		{
			name: "push to another branch", secret: secret, event: "push", body: push("refs/heads/dev"),
			wantStatus: http.StatusOK, wantBody: "ignored: not the served branch",
		},
		{
			name: "push to branch with main as prefix", secret: secret, event: "push", body: push("refs/heads/main-old"),
			wantStatus: http.StatusOK,
		},
		{
			name: "push to tag", secret: secret, event: "push", body: push("refs/tags/v1"),
			wantStatus: http.StatusOK, wantBody: "ignored",
		},
		{
			name: "push to tag named like the branch", secret: secret, event: "push", body: push("refs/tags/main"),
			wantStatus: http.StatusOK,
		},
		{
			name: "push with bare branch name", secret: secret, event: "push", body: push("main"),
			wantStatus: http.StatusOK,
		},
		{
			name: "push without ref", secret: secret, event: "push", body: []byte(`{"after":"` + afterSHA + `"}`),
			wantStatus: http.StatusOK,
		},
		{
			name: "configured branch honoured", secret: secret, branch: "prod", event: "push", body: push("refs/heads/prod"),
			wantStatus: http.StatusAccepted, wantReasons: []string{"push 0d1a26e67d8f"},
		},
		{
			name: "configured branch ignores main", secret: secret, branch: "prod", event: "push", body: push("refs/heads/main"),
			wantStatus: http.StatusOK,
		},
		{
			name: "configured branch with slash", secret: secret, branch: "release/v2", event: "push", body: push("refs/heads/release/v2"),
			wantStatus: http.StatusAccepted, wantReasons: []string{"push 0d1a26e67d8f"},
		},
		{
			name: "unknown event", secret: secret, event: "issues", body: []byte(`{"action":"opened","issue":{"number":1}}`),
			wantStatus: http.StatusOK, wantBody: "ignored: event issues is not handled",
		},
		{
			name: "no event header", secret: secret, event: "", body: push("refs/heads/main"),
			wantStatus: http.StatusOK, wantBody: "ignored",
		},
		{
			name: "event name is case-sensitive", secret: secret, event: "Push", body: push("refs/heads/main"),
			wantStatus: http.StatusOK,
		},
		{
			name: "malformed push JSON", secret: secret, event: "push", body: []byte(`{"ref": "refs/heads/main",`),
			wantStatus: http.StatusBadRequest, wantBody: "bad push payload",
		},
		{
			name: "push JSON array", secret: secret, event: "push", body: []byte(`[]`),
			wantStatus: http.StatusBadRequest,
		},
		{
			name: "push ref not a string", secret: secret, event: "push", body: []byte(`{"ref": 7}`),
			wantStatus: http.StatusBadRequest,
		},
		{
			name: "push form-encoded", secret: secret, event: "push", body: []byte(`payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D`),
			wantStatus: http.StatusBadRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			syncer := &fakeSyncer{}
			logs := newLogRecords()
			h := New(Config{Secret: tt.secret, Branch: tt.branch, Syncer: syncer, Logger: slog.New(logs)})

			sig := ""
			if !tt.noSig {
				key := tt.signWith
				if key == nil {
					key = tt.secret
				}
				sig = Sign(key, tt.body)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, delivery(tt.event, bytes.NewReader(tt.body), sig))

			if w.Code != tt.wantStatus {
				t.Errorf("status: got %d, want %d (body %q)", w.Code, tt.wantStatus, w.Body)
			}
			if got := syncer.calls(); !slices.Equal(got, tt.wantReasons) {
				t.Errorf("Trigger calls: got %q, want %q", got, tt.wantReasons)
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("body: got %q, want it to contain %q", w.Body, tt.wantBody)
			}
			if got, want := w.Header().Get("Content-Type"), "text/plain; charset=utf-8"; got != want {
				t.Errorf("Content-Type: got %q, want %q", got, want)
			}
			checkOneRecord(t, logs, tt.event)
		})
	}
}

// checkOneRecord wants exactly one log record for the delivery, naming the
// component, event and delivery id.
func checkOneRecord(t *testing.T, logs logRecords, event string) {
	t.Helper()
	recs := logs.all()
	if len(recs) != 1 {
		var msgs []string
		for _, r := range recs {
			msgs = append(msgs, r.Message)
		}
		t.Fatalf("log records: got %d %q, want 1 per delivery", len(recs), msgs)
	}
	for key, want := range map[string]string{
		"component": "webhook",
		"event":     event,
		"delivery":  "72d3162e-cc78-11e3-81ab-4c9367dc0958",
	} {
		if got := attr(recs[0], key); got != want {
			t.Errorf("log record %q: attribute %s: got %q, want %q", recs[0].Message, key, got, want)
		}
	}
}

func TestHandlerDefaultLogger(t *testing.T) {
	// A Config without Logger must not crash: New falls back to
	// slog.Default.
	syncer := &fakeSyncer{}
	h := New(Config{Secret: []byte(testSecret), Syncer: syncer})
	body := pushPayload("refs/heads/main", afterSHA)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, delivery("push", bytes.NewReader(body), Sign([]byte(testSecret), body)))
	if w.Code != http.StatusAccepted {
		t.Errorf("status: got %d, want %d", w.Code, http.StatusAccepted)
	}
	if got := len(syncer.calls()); got != 1 {
		t.Errorf("Trigger calls: got %d, want 1", got)
	}
}

// byteStream yields n bytes of b without holding them in memory, and
// counts what was read.
type byteStream struct {
	b    byte
	n    int64
	read int64
}

func (s *byteStream) Read(p []byte) (int, error) {
	if s.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.n {
		p = p[:s.n]
	}
	// Fill p by doubling copies: far cheaper than a byte loop under -race.
	if len(p) > 0 {
		p[0] = s.b
		for i := 1; i < len(p); i *= 2 {
			copy(p[i:], p[:i])
		}
	}
	s.n -= int64(len(p))
	s.read += int64(len(p))
	return len(p), nil
}

// streamSign signs n bytes of b without holding them in memory.
func streamSign(secret []byte, b byte, n int64) string {
	m := hmac.New(sha256.New, secret)
	if _, err := io.Copy(m, &byteStream{b: b, n: n}); err != nil {
		panic(err)
	}
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// githubLimit is GitHub's cap on webhook payloads, 25 MiB, written out
// rather than taken from maxPayload so that a change to the constant shows.
const githubLimit = 25 << 20

func TestHandlerBodySize(t *testing.T) {
	secret := []byte(testSecret)
	tests := []struct {
		name       string
		size       int64
		wantStatus int
	}{
		// GitHub caps payloads at 25 MiB: a delivery of exactly that size
		// is read, one byte more is refused before the signature is
		// checked.
		{"at the limit", githubLimit, http.StatusOK},
		{"one byte over", githubLimit + 1, http.StatusRequestEntityTooLarge},
		{"far over", 4 * githubLimit, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			syncer := &fakeSyncer{}
			logs := newLogRecords()
			h := New(Config{Secret: secret, Syncer: syncer, Logger: slog.New(logs)})
			// A ping, whose body is not parsed, so only the size matters.
			// Over the limit the signature is never looked at, so do not
			// spend time computing it.
			sig := "sha256=" + strings.Repeat("0", 64)
			if tt.size <= githubLimit {
				sig = streamSign(secret, ' ', tt.size)
			}
			body := &byteStream{b: ' ', n: tt.size}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, delivery("ping", body, sig))

			if w.Code != tt.wantStatus {
				t.Errorf("status: got %d, want %d (body %q)", w.Code, tt.wantStatus, w.Body)
			}
			if got := syncer.calls(); len(got) != 0 {
				t.Errorf("Trigger calls: got %q, want none", got)
			}
			if body.read > githubLimit+1 {
				t.Errorf("handler read %d bytes, want at most %d", body.read, githubLimit+1)
			}
			checkOneRecord(t, logs, "ping")
		})
	}

	t.Run("push over the limit", func(t *testing.T) {
		syncer := &fakeSyncer{}
		h := New(Config{Secret: secret, Syncer: syncer, Logger: slog.New(slog.DiscardHandler)})
		// A valid push whose padding pushes it over the limit.
		payload := pushPayload("refs/heads/main", afterSHA)
		body := io.MultiReader(bytes.NewReader(payload), &byteStream{b: ' ', n: githubLimit})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, delivery("push", body, "sha256="+strings.Repeat("0", 64)))
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("status: got %d, want %d", w.Code, http.StatusRequestEntityTooLarge)
		}
		if got := syncer.calls(); len(got) != 0 {
			t.Errorf("Trigger calls: got %q, want none", got)
		}
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

func TestHandlerBodyReadError(t *testing.T) {
	syncer := &fakeSyncer{}
	logs := newLogRecords()
	h := New(Config{Secret: []byte(testSecret), Syncer: syncer, Logger: slog.New(logs)})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, delivery("push", failingReader{}, Sign([]byte(testSecret), nil)))
	if w.Code != http.StatusBadRequest {
		t.Errorf("status: got %d, want %d", w.Code, http.StatusBadRequest)
	}
	if got := syncer.calls(); len(got) != 0 {
		t.Errorf("Trigger calls: got %q, want none", got)
	}
	checkOneRecord(t, logs, "push")
}

func TestHandlerConcurrent(t *testing.T) {
	// The handler is documented as safe for concurrent use; run under
	// -race this checks it.
	syncer := &fakeSyncer{}
	h := New(Config{Secret: []byte(testSecret), Syncer: syncer, Logger: slog.New(slog.DiscardHandler)})
	const n = 16
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			ref := "refs/heads/main"
			if i%2 == 1 {
				ref = "refs/heads/dev"
			}
			body := pushPayload(ref, afterSHA)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, delivery("push", bytes.NewReader(body), Sign([]byte(testSecret), body)))
			codes[i] = w.Code
		})
	}
	wg.Wait()
	for i, code := range codes {
		want := http.StatusAccepted
		if i%2 == 1 {
			want = http.StatusOK
		}
		if code != want {
			t.Errorf("delivery %d: got status %d, want %d", i, code, want)
		}
	}
	if got := len(syncer.calls()); got != n/2 {
		t.Errorf("Trigger calls: got %d, want %d", got, n/2)
	}
}

// TestHandlerConfigRepo: with Repo set, pushes and pull requests of other
// repositories are ignored; release events of any repository sync.
func TestHandlerConfigRepo(t *testing.T) {
	secret := []byte("s3cret")
	sync := &fakeSyncer{}
	prs := &fakeQueue{}
	h := New(Config{Secret: secret, Repo: "acme/fleet-config", Syncer: sync, PullRequests: prs,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	send := func(event, body string) int {
		req := httptest.NewRequest("POST", "/webhook/github", strings.NewReader(body))
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-Hub-Signature-256", Sign(secret, []byte(body)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	tests := []struct {
		event, body string
		status      int
		syncs, prs  int
	}{
		{"push", `{"ref":"refs/heads/main","repository":{"full_name":"acme/fleet-config"}}`, 202, 1, 0},
		{"push", `{"ref":"refs/heads/main","repository":{"full_name":"ACME/Fleet-Config"}}`, 202, 2, 0},
		{"push", `{"ref":"refs/heads/main","repository":{"full_name":"acme/lamp-firmware"}}`, 200, 2, 0},
		{"release", `{"action":"published","release":{"tag_name":"v1.0.0"},"repository":{"full_name":"acme/lamp-firmware"}}`, 202, 3, 0},
		{"pull_request", `{"action":"opened","number":3,"pull_request":{"number":3,"base":{"ref":"main","sha":"` + strings.Repeat("a", 40) + `"},"head":{"ref":"x","sha":"` + strings.Repeat("b", 40) + `"}},"repository":{"full_name":"acme/lamp-firmware"}}`, 200, 3, 0},
		{"pull_request", `{"action":"opened","number":3,"pull_request":{"number":3,"base":{"ref":"main","sha":"` + strings.Repeat("a", 40) + `"},"head":{"ref":"x","sha":"` + strings.Repeat("b", 40) + `"}},"repository":{"full_name":"acme/fleet-config"}}`, 202, 3, 1},
	}
	for i, tt := range tests {
		got := send(tt.event, tt.body)
		if syncs, reviews := len(sync.calls()), len(prs.queued()); got != tt.status || syncs != tt.syncs || reviews != tt.prs {
			t.Errorf("%d %s: got status %d, %d syncs, %d reviews; want %d, %d, %d", i, tt.event, got, syncs, reviews, tt.status, tt.syncs, tt.prs)
		}
	}
}
