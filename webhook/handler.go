package webhook

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// maxPayload is GitHub's own limit for a webhook payload.
const maxPayload = 25 << 20

// Syncer is what a push triggers.
type Syncer interface {
	// Trigger asks for a sync and returns at once.
	Trigger(reason string)
}

// Config configures a Handler.
type Config struct {
	// Secret is the webhook secret set on GitHub. Without one, every
	// delivery is refused: an unsigned endpoint would let anyone make the
	// server fetch.
	Secret []byte
	// SecretFunc, when set, returns the current secret instead of Secret
	// (a secret file reloaded on SIGHUP).
	SecretFunc func() []byte
	// MaxBuffered bounds the bytes of all deliveries held in memory at
	// once, while their signatures are checked; a delivery that does not
	// fit is refused with 503 at once. Default 64 MiB.
	MaxBuffered int64
	// Branch is the served branch; pushes to other branches are ignored.
	Branch string
	// Repo is the config repository, "owner/name"; pushes and pull
	// requests of other repositories are ignored (the same webhook may be
	// set on firmware repositories for their release events). "" accepts
	// every repository.
	Repo string
	// Syncer is triggered by pushes to Branch and by release events.
	Syncer Syncer
	// PullRequests receives pull requests opened against Branch, or
	// pushed to, for review. Nil turns review off: such events are
	// acknowledged and ignored (review needs a GitHub token).
	PullRequests PullRequestQueue
	// Logger receives one record per delivery. Default slog.Default().
	Logger *slog.Logger
}

// Handler serves POST /webhook/github. It is safe for concurrent use.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	budget *budget
}

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Branch == "" {
		cfg.Branch = "main"
	}
	if cfg.MaxBuffered <= 0 {
		cfg.MaxBuffered = defaultMaxBuffered
	}
	return &Handler{cfg: cfg, log: cfg.Logger.With("component", "webhook"), budget: &budget{max: cfg.MaxBuffered}}
}

// ServeHTTP verifies the delivery's signature and acts on it: ping -> 200,
// push to the served branch -> sync (202), release published, edited,
// deleted, prereleased, released or unpublished -> sync (202), pull request
// against the served branch opened, synchronized or reopened -> queued for
// review (202), any other event or action -> 200 and ignored (an event
// that is not handled is answered without reading its body). A bad or
// missing signature -> 401, and nothing happens; a malformed payload of a
// handled event -> 400; more than 25 MiB -> 413; more deliveries being
// read at once than MaxBuffered holds -> 503. Bodies may be JSON or
// GitHub's form encoding (payload=...).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	event := r.Header.Get("X-GitHub-Event")
	delivery := r.Header.Get("X-GitHub-Delivery")
	log := h.log.With("event", event, "delivery", delivery)
	secret := h.cfg.Secret
	if h.cfg.SecretFunc != nil {
		secret = h.cfg.SecretFunc()
	}
	if len(secret) == 0 {
		log.Warn("webhook refused: no webhook secret configured")
		http.Error(w, "webhooks are disabled: the server has no webhook secret", http.StatusForbidden)
		return
	}
	// Refuse what can be refused before reading the body: no signature,
	// a body that is too large, an event that is ignored anyway.
	sig := r.Header.Get("X-Hub-Signature-256")
	if err := checkSignatureForm(sig); err != nil {
		log.Warn("webhook refused", "err", err, "remote", r.RemoteAddr)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.ContentLength > maxPayload {
		log.Warn("webhook refused: payload too large", "limit", maxPayload, "length", r.ContentLength, "remote", r.RemoteAddr)
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		return
	}
	if !handled(event) {
		log.Info("event ignored")
		writeText(w, http.StatusOK, "ignored: event "+event+" is not handled")
		return
	}
	// Hold the bytes this delivery can buffer, or refuse it now: the
	// deliveries being checked together never hold more than MaxBuffered.
	want := int64(maxPayload)
	if r.ContentLength >= 0 {
		want = r.ContentLength
	}
	if !h.budget.take(want) {
		log.Warn("webhook refused: too many deliveries being read", "buffered_limit", h.cfg.MaxBuffered, "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", "10")
		http.Error(w, "busy: too many deliveries at once", http.StatusServiceUnavailable)
		return
	}
	defer h.budget.give(want)
	body, err := readBody(w, r, want)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.Warn("webhook refused: payload too large", "limit", maxPayload, "remote", r.RemoteAddr)
			http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
			return
		}
		log.Warn("webhook refused: cannot read body", "err", err, "remote", r.RemoteAddr)
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	if err := VerifySignature(secret, body, sig); err != nil {
		log.Warn("webhook refused", "err", err, "remote", r.RemoteAddr)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	// GitHub's default content type is a form whose "payload" field holds
	// the JSON; the signature is over the form as sent.
	if isForm(r.Header.Get("Content-Type")) {
		vals, err := url.ParseQuery(string(body))
		if err != nil || !vals.Has("payload") {
			log.Warn("webhook refused: form without a payload field")
			http.Error(w, "bad form payload: no payload field", http.StatusBadRequest)
			return
		}
		body = []byte(vals.Get("payload"))
	}
	switch event {
	case "ping":
		log.Info("webhook ping")
		writeText(w, http.StatusOK, "pong")
	case "push":
		var p struct {
			Ref        string `json:"ref"`
			After      string `json:"after"`
			Deleted    bool   `json:"deleted"`
			Repository struct {
				FullName string `json:"full_name"`
			} `json:"repository"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			log.Warn("bad push payload", "err", err)
			http.Error(w, "bad push payload: "+err.Error(), http.StatusBadRequest)
			return
		}
		if !h.configRepo(p.Repository.FullName) {
			log.Info("push ignored: not the config repository", "repo", p.Repository.FullName)
			writeText(w, http.StatusOK, "ignored: not the config repository")
			return
		}
		branch, isBranch := strings.CutPrefix(p.Ref, "refs/heads/")
		if !isBranch || branch != h.cfg.Branch {
			log.Info("push ignored: not the served branch", "ref", p.Ref)
			writeText(w, http.StatusOK, "ignored: not the served branch")
			return
		}
		log.Info("push: syncing", "ref", p.Ref, "after", p.After)
		h.cfg.Syncer.Trigger("push " + short(p.After))
		writeText(w, http.StatusAccepted, "sync triggered")
	case "release":
		h.release(w, log, body)
	case "pull_request":
		h.pullRequest(w, log, body)
	default:
		log.Info("event ignored")
		writeText(w, http.StatusOK, "ignored: event "+event+" is not handled")
	}
}

// configRepo reports whether repo ("owner/name") is the config
// repository, or any repository is accepted.
func (h *Handler) configRepo(repo string) bool {
	return h.cfg.Repo == "" || strings.EqualFold(repo, h.cfg.Repo)
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
