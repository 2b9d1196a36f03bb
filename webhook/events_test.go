package webhook

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeQueue records Enqueue calls.
type fakeQueue struct {
	mu  sync.Mutex
	prs []PullRequest
}

func (q *fakeQueue) Enqueue(pr PullRequest) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.prs = append(q.prs, pr)
}

func (q *fakeQueue) queued() []PullRequest {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.prs)
}

const (
	baseSHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
	headSHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
)

const ghUser = `{"login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "avatar_url": "https://github.com/images/error/octocat_happy.gif", "type": "User", "site_admin": false}`

// repoJSON is a repository object as webhook payloads carry it.
func repoJSON(fullName string, fork bool) string {
	owner, name, _ := strings.Cut(fullName, "/")
	return fmt.Sprintf(`{
    "id": 186853002, "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=", "name": %q, "full_name": %q,
    "private": true, "fork": %v,
    "owner": {"login": %q, "id": 21031067, "type": "Organization"},
    "html_url": "https://github.com/%s", "url": "https://api.github.com/repos/%s",
    "created_at": "2019-05-15T15:19:25Z", "updated_at": "2024-05-01T10:00:00Z", "pushed_at": "2024-05-01T10:00:00Z",
    "default_branch": "main", "visibility": "private"
  }`, name, fullName, fork, owner, fullName, fullName)
}

// releasePayload is a release delivery as GitHub sends it (trimmed).
func releasePayload(action, tag string, prerelease bool) []byte {
	return fmt.Appendf(nil, `{
  "action": %q,
  "release": {
    "url": "https://api.github.com/repos/acme/fleet-config/releases/158021349",
    "assets_url": "https://api.github.com/repos/acme/fleet-config/releases/158021349/assets",
    "upload_url": "https://uploads.github.com/repos/acme/fleet-config/releases/158021349/assets{?name,label}",
    "html_url": "https://github.com/acme/fleet-config/releases/tag/%s",
    "id": 158021349, "node_id": "RE_kwDOCyM5Ss4JahDl",
    "author": %s,
    "tag_name": %q, "target_commitish": "main", "name": "Lamp 1.9.0",
    "draft": false, "prerelease": %v,
    "created_at": "2024-05-01T10:00:00Z", "published_at": "2024-05-01T10:05:00Z",
    "assets": [{
      "url": "https://api.github.com/repos/acme/fleet-config/releases/assets/167411025",
      "id": 167411025, "node_id": "RA_kwDOCyM5Ss4J-ZtR", "name": "lamp.bin", "label": "",
      "uploader": %s, "content_type": "application/octet-stream", "state": "uploaded",
      "size": 524288, "download_count": 0,
      "created_at": "2024-05-01T10:01:00Z", "updated_at": "2024-05-01T10:01:05Z",
      "browser_download_url": "https://github.com/acme/fleet-config/releases/download/%s/lamp.bin"
    }],
    "tarball_url": "https://api.github.com/repos/acme/fleet-config/tarball/%s",
    "zipball_url": "https://api.github.com/repos/acme/fleet-config/zipball/%s",
    "body": "Fixes the flicker at 10%% brightness."
  },
  "repository": %s,
  "sender": %s
}`, action, tag, ghUser, tag, prerelease, ghUser, tag, tag, tag, repoJSON(testRepo, false), ghUser)
}

// pullRequestPayload is a pull_request delivery as GitHub sends it
// (trimmed). headRepo is the head's repository: testRepo or a fork.
func pullRequestPayload(action string, number int, baseRef, headRepo string) []byte {
	fork := headRepo != testRepo
	headOwner, _, _ := strings.Cut(headRepo, "/")
	return fmt.Appendf(nil, `{
  "action": %q,
  "number": %d,
  "pull_request": {
    "url": "https://api.github.com/repos/acme/fleet-config/pulls/%d",
    "id": 1854732019, "node_id": "PR_kwDOCyM5Ss5ujNfz",
    "html_url": "https://github.com/acme/fleet-config/pull/%d",
    "number": %d, "state": "open", "locked": false,
    "title": "lamp: roll out 1.9.0 to the office", "user": %s,
    "body": "Moves the office lamps to 1.9.0.",
    "created_at": "2024-05-01T10:00:00Z", "updated_at": "2024-05-01T10:00:00Z",
    "closed_at": null, "merged_at": null, "merge_commit_sha": null,
    "draft": false,
    "head": {"label": "%s:lamp-1.9", "ref": "lamp-1.9", "sha": %q, "user": %s, "repo": %s},
    "base": {"label": "acme:%s", "ref": %q, "sha": %q, "user": %s, "repo": %s},
    "author_association": "MEMBER",
    "merged": false, "mergeable": null, "rebaseable": null, "mergeable_state": "unknown",
    "comments": 0, "review_comments": 0, "commits": 1, "additions": 3, "deletions": 1, "changed_files": 2
  },
  "repository": %s,
  "sender": %s
}`, action, number, number, number, number, ghUser,
		headOwner, headSHA, ghUser, repoJSON(headRepo, fork),
		baseRef, baseRef, baseSHA, ghUser, repoJSON(testRepo, false),
		repoJSON(testRepo, false), ghUser)
}

func TestHandlerReleaseEvents(t *testing.T) {
	tests := []struct {
		action      string
		wantStatus  int
		wantReasons []string
		wantBody    string
	}{
		{"published", http.StatusAccepted, []string{"release acme/fleet-config lamp-v1.9.0 published"}, "sync triggered"},
		{"released", http.StatusAccepted, []string{"release acme/fleet-config lamp-v1.9.0 released"}, "sync triggered"},
		{"prereleased", http.StatusAccepted, []string{"release acme/fleet-config lamp-v1.9.0 prereleased"}, "sync triggered"},
		{"edited", http.StatusAccepted, []string{"release acme/fleet-config lamp-v1.9.0 edited"}, "sync triggered"},
		{"deleted", http.StatusAccepted, []string{"release acme/fleet-config lamp-v1.9.0 deleted"}, "sync triggered"},
		{"unpublished", http.StatusAccepted, []string{"release acme/fleet-config lamp-v1.9.0 unpublished"}, "sync triggered"},
		{"created", http.StatusOK, nil, "ignored: release action created is not handled"},
		{"something-new", http.StatusOK, nil, "ignored: release action something-new is not handled"},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			body := releasePayload(tt.action, "lamp-v1.9.0", tt.action == "prereleased")
			syncer, queue := &fakeSyncer{}, &fakeQueue{}
			w, logs := serveEvent(t, Config{Syncer: syncer, PullRequests: queue}, "release", body)
			if w.Code != tt.wantStatus {
				t.Errorf("status: got %d, want %d (body %q)", w.Code, tt.wantStatus, w.Body)
			}
			if got := syncer.calls(); !slices.Equal(got, tt.wantReasons) {
				t.Errorf("Trigger calls: got %q, want %q", got, tt.wantReasons)
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("body: got %q, want it to contain %q", w.Body, tt.wantBody)
			}
			if got := queue.queued(); len(got) != 0 {
				t.Errorf("Enqueue calls: got %+v, want none", got)
			}
			checkOneRecord(t, logs, "release")
		})
	}
}

func TestHandlerPullRequestEvents(t *testing.T) {
	const fork = "mona/fleet-config"
	want := func(headRepo string) []PullRequest {
		return []PullRequest{{
			Repo: testRepo, Number: 7, BaseRef: "main", BaseSHA: baseSHA,
			HeadRef: "lamp-1.9", HeadSHA: headSHA, HeadRepo: headRepo,
		}}
	}
	tests := []struct {
		name       string
		action     string
		baseRef    string
		headRepo   string
		noQueue    bool
		wantStatus int
		wantQueued []PullRequest
		wantBody   string
	}{
		{"opened", "opened", "main", testRepo, false, http.StatusAccepted, want(testRepo), "review queued"},
		{"synchronize", "synchronize", "main", testRepo, false, http.StatusAccepted, want(testRepo), "review queued"},
		{"reopened", "reopened", "main", testRepo, false, http.StatusAccepted, want(testRepo), "review queued"},
		{"opened from a fork", "opened", "main", fork, false, http.StatusAccepted, want(fork), "review queued"},
		{"synchronize from a fork", "synchronize", "main", fork, false, http.StatusAccepted, want(fork), "review queued"},
		{"closed", "closed", "main", testRepo, false, http.StatusOK, nil, "ignored: pull_request action closed is not handled"},
		{"edited", "edited", "main", testRepo, false, http.StatusOK, nil, "ignored: pull_request action edited"},
		{"labeled", "labeled", "main", testRepo, false, http.StatusOK, nil, "ignored: pull_request action labeled"},
		{"ready_for_review", "ready_for_review", "main", testRepo, false, http.StatusOK, nil, "ignored"},
		{"another base branch", "opened", "dev", testRepo, false, http.StatusOK, nil, "ignored: pull request is not against the served branch"},
		{"review off", "opened", "main", testRepo, true, http.StatusOK, nil, "ignored: pull request review is off (no GitHub token)"},
		{"review off, closed", "closed", "main", testRepo, true, http.StatusOK, nil, "ignored: pull_request action closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			syncer, queue := &fakeSyncer{}, &fakeQueue{}
			cfg := Config{Syncer: syncer, PullRequests: queue}
			if tt.noQueue {
				cfg.PullRequests = nil
			}
			w, logs := serveEvent(t, cfg, "pull_request", pullRequestPayload(tt.action, 7, tt.baseRef, tt.headRepo))
			if w.Code != tt.wantStatus {
				t.Errorf("status: got %d, want %d (body %q)", w.Code, tt.wantStatus, w.Body)
			}
			if got := queue.queued(); !slices.Equal(got, tt.wantQueued) {
				t.Errorf("Enqueue calls: got %+v, want %+v", got, tt.wantQueued)
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("body: got %q, want it to contain %q", w.Body, tt.wantBody)
			}
			if got := syncer.calls(); len(got) != 0 {
				t.Errorf("Trigger calls: got %q, want none", got)
			}
			checkOneRecord(t, logs, "pull_request")
		})
	}
}

func TestHandlerBadEventPayloads(t *testing.T) {
	tests := []struct {
		name, event string
		body        []byte
		wantBody    string
	}{
		{"release: not JSON", "release", []byte(`{"action":`), "bad release payload"},
		{"release: null", "release", []byte(`null`), "bad release payload"},
		{"release: array", "release", []byte(`[]`), "bad release payload"},
		{"release: wrong type", "release", []byte(`{"action":"published","release":{"tag_name":5}}`), "bad release payload"},
		{"release: no tag", "release", []byte(`{"action":"published","release":{},"repository":{"full_name":"acme/fleet-config"}}`), "no repository full_name or release tag_name"},
		{"release: no repository", "release", []byte(`{"action":"deleted","release":{"tag_name":"v1"}}`), "no repository full_name or release tag_name"},
		{"pull_request: not JSON", "pull_request", []byte(`{`), "bad pull_request payload"},
		{"pull_request: null", "pull_request", []byte(`null`), "bad pull_request payload"},
		{"pull_request: no head sha", "pull_request", bytes.Replace(pullRequestPayload("opened", 7, "main", testRepo), []byte(headSHA), nil, 1), "no number, base ref or head sha"},
		{"pull_request: no number", "pull_request", []byte(`{"action":"opened","pull_request":{"head":{"sha":"abc"},"base":{"ref":"main"}},"repository":{"full_name":"acme/fleet-config"}}`), "no number"},
		{"pull_request: bad repository", "pull_request", []byte(`{"action":"opened","number":3,"pull_request":{"head":{"sha":"abc"},"base":{"ref":"main"}},"repository":{"full_name":"acme"}}`), "invalid GitHub repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			syncer, queue := &fakeSyncer{}, &fakeQueue{}
			w, logs := serveEvent(t, Config{Syncer: syncer, PullRequests: queue}, tt.event, tt.body)
			if w.Code != http.StatusBadRequest {
				t.Errorf("status: got %d, want 400 (body %q)", w.Code, w.Body)
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("body: got %q, want it to contain %q", w.Body, tt.wantBody)
			}
			if len(syncer.calls()) != 0 || len(queue.queued()) != 0 {
				t.Errorf("got Trigger calls %q and Enqueue calls %+v, want none", syncer.calls(), queue.queued())
			}
			checkOneRecord(t, logs, tt.event)
		})
	}
}

func TestHandlerEventsNeedSignature(t *testing.T) {
	for _, event := range []string{"release", "pull_request"} {
		t.Run(event, func(t *testing.T) {
			syncer, queue := &fakeSyncer{}, &fakeQueue{}
			h := New(Config{Secret: []byte(testSecret), Syncer: syncer, PullRequests: queue, Logger: slog.New(slog.DiscardHandler)})
			body := releasePayload("published", "v1", false)
			if event == "pull_request" {
				body = pullRequestPayload("opened", 1, "main", testRepo)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, delivery(event, bytes.NewReader(body), Sign([]byte("wrong"), body)))
			if w.Code != http.StatusUnauthorized || len(syncer.calls()) != 0 || len(queue.queued()) != 0 {
				t.Errorf("got status %d, Trigger %q, Enqueue %+v; want 401 and nothing done", w.Code, syncer.calls(), queue.queued())
			}
		})
	}
}

// serveEvent delivers a signed event to a Handler for cfg (with the test
// secret and a recording logger).
func serveEvent(t *testing.T, cfg Config, event string, body []byte) (*httptest.ResponseRecorder, logRecords) {
	t.Helper()
	logs := newLogRecords()
	cfg.Secret = []byte(testSecret)
	cfg.Logger = slog.New(logs)
	h := New(cfg)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, delivery(event, bytes.NewReader(body), Sign(cfg.Secret, body)))
	return w, logs
}
