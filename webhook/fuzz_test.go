package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func FuzzVerifySignature(f *testing.F) {
	secret, body := []byte(testSecret), []byte("Hello, World!")
	good := Sign(secret, body)
	f.Add(secret, body, good)
	f.Add(secret, body, strings.ToUpper(good))
	f.Add(secret, body, "sha256="+strings.ToUpper(strings.TrimPrefix(good, "sha256=")))
	f.Add(secret, body, "")
	f.Add(secret, body, "sha1=0123")
	f.Add([]byte{}, []byte{}, "sha256="+strings.Repeat("z", 64))
	f.Add([]byte("k"), pushPayload("refs/heads/main", afterSHA), good[:len(good)-1]+"f")
	f.Fuzz(func(t *testing.T, secret, body []byte, header string) {
		want := Sign(secret, body)
		if err := VerifySignature(secret, body, want); err != nil {
			t.Fatalf("VerifySignature(Sign(secret, body)): got %v, want nil", err)
		}
		err := VerifySignature(secret, body, header)
		switch {
		case header == "":
			if !errors.Is(err, ErrNoSignature) {
				t.Fatalf("VerifySignature(%q): got %v, want ErrNoSignature", header, err)
			}
		case err == nil:
			// Only the right digest verifies; hex.Decode accepts either
			// case, so that is the only freedom.
			if !strings.EqualFold(header, want) {
				t.Fatalf("VerifySignature(%q) verified, but the signature is %q", header, want)
			}
			if !strings.HasPrefix(header, "sha256=") {
				t.Fatalf("VerifySignature(%q) verified without the sha256= prefix", header)
			}
		case !errors.Is(err, ErrBadSignature):
			t.Fatalf("VerifySignature(%q): got %v, want ErrBadSignature", header, err)
		case header == want:
			t.Fatalf("VerifySignature(%q) of Sign's own header: got %v", header, err)
		}
	})
}

func FuzzHandler(f *testing.F) {
	f.Add("push", pushPayload("refs/heads/main", afterSHA))
	f.Add("push", pushPayload("refs/heads/dev", afterSHA))
	f.Add("push", pushPayload("refs/tags/v1", ""))
	f.Add("push", []byte(`{"ref":"refs/heads/main","after":"é\u00e9é€€€€"}`))
	f.Add("push", []byte(`{"ref":"refs/heads/main","deleted":"yes"}`))
	f.Add("push", []byte(`null`))
	f.Add("push", []byte(`{`))
	f.Add("ping", pingPayload)
	f.Add("issues", []byte(`{"action":"opened"}`))
	f.Add("", []byte{})
	secret := []byte(testSecret)
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		syncer := &fakeSyncer{}
		h := New(Config{Secret: secret, Syncer: syncer, Logger: slog.New(slog.DiscardHandler)})
		r := httptest.NewRequest(http.MethodPost, "/webhook/github", bytes.NewReader(body))
		r.Header["X-Github-Event"] = []string{event}
		r.Header.Set("X-Hub-Signature-256", Sign(secret, body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		calls := syncer.calls()
		// What encoding/json makes of the payload's ref, matched as the
		// handler does: case-insensitive keys, last one wins.
		var push struct {
			Ref string `json:"ref"`
		}
		pushErr := json.Unmarshal(body, &push)
		switch w.Code {
		case http.StatusAccepted:
			if len(calls) != 1 {
				t.Fatalf("status 202 with %d Trigger calls, want 1", len(calls))
			}
			if event == "release" {
				break // FuzzEventPayloads checks release events
			}
			if event != "push" {
				t.Fatalf("status 202 for event %q, want only push or release", event)
			}
			if pushErr != nil || push.Ref != "refs/heads/main" {
				t.Fatalf("status 202 for body %q (ref %q, error %v), want a push to refs/heads/main", body, push.Ref, pushErr)
			}
			if !strings.HasPrefix(calls[0], "push ") {
				t.Fatalf("Trigger reason %q, want it to start with %q", calls[0], "push ")
			}
		case http.StatusOK, http.StatusBadRequest:
			if len(calls) != 0 {
				t.Fatalf("status %d with Trigger calls %q, want none", w.Code, calls)
			}
			if w.Code == http.StatusBadRequest && event != "push" && event != "release" && event != "pull_request" {
				t.Fatalf("status 400 for event %q, want it only for malformed push, release or pull_request payloads", event)
			}
			if w.Code == http.StatusOK && event == "push" && pushErr == nil && push.Ref == "refs/heads/main" {
				t.Fatalf("status 200 for a well-formed push to refs/heads/main (body %q), want 202", body)
			}
		default:
			t.Fatalf("status %d (%q), want 200, 202 or 400", w.Code, w.Body)
		}
	})
}
