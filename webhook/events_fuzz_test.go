package webhook

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/otagit/otagit/githubapi"
)

// FuzzEventPayloads feeds arbitrary release and pull_request payloads to
// the handler: it must never panic, answer 200, 202 or 400, act only on a
// 202, and act on what the payload says.
func FuzzEventPayloads(f *testing.F) {
	for _, action := range []string{"published", "created", "deleted", "prereleased"} {
		f.Add(true, releasePayload(action, "lamp-v1.9.0", false))
	}
	for _, action := range []string{"opened", "synchronize", "closed"} {
		f.Add(false, pullRequestPayload(action, 7, "main", testRepo))
	}
	f.Add(false, pullRequestPayload("opened", 8, "main", "mona/fleet-config"))
	f.Add(false, pullRequestPayload("reopened", 9, "dev", testRepo))
	f.Add(true, []byte(`{"action":"published","release":{"tag_name":"v1"},"repository":{"full_name":"a/b"}}`))
	f.Add(true, []byte(`{"action":"published","release":null}`))
	f.Add(false, []byte(`{"action":"opened","number":-1,"pull_request":{"head":{"sha":"x"},"base":{"ref":"main"}},"repository":{"full_name":"a/b"}}`))
	f.Add(false, []byte(`{"ACTION":"opened","Number":1,"pull_request":{"head":{"sha":"x"},"base":{"ref":"main"}},"repository":{"full_name":"a/b"}}`))
	f.Add(true, []byte(`null`))
	f.Add(false, []byte(`[`))

	secret := []byte(testSecret)
	f.Fuzz(func(t *testing.T, isRelease bool, body []byte) {
		event := "pull_request"
		if isRelease {
			event = "release"
		}
		syncer, queue := &fakeSyncer{}, &fakeQueue{}
		h := New(Config{Secret: secret, Syncer: syncer, PullRequests: queue, Logger: slog.New(slog.DiscardHandler)})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, delivery(event, bytes.NewReader(body), Sign(secret, body)))

		calls, queued := syncer.calls(), queue.queued()
		if w.Code != http.StatusAccepted {
			if len(calls) != 0 || len(queued) != 0 {
				t.Fatalf("status %d with Trigger %q and Enqueue %+v, want nothing done", w.Code, calls, queued)
			}
			if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
				t.Fatalf("status %d (%q), want 200, 202 or 400", w.Code, w.Body)
			}
			return
		}

		// What encoding/json makes of the fields the handler reads.
		var p struct {
			Action  string `json:"action"`
			Number  int    `json:"number"`
			Release struct {
				TagName string `json:"tag_name"`
			} `json:"release"`
			PullRequest struct {
				Number int `json:"number"`
				Head   struct {
					Ref, SHA string
					Repo     struct {
						FullName string `json:"full_name"`
					}
				}
				Base struct{ Ref, SHA string }
			} `json:"pull_request"`
			Repository struct {
				FullName string `json:"full_name"`
			} `json:"repository"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("status 202 for a payload encoding/json rejects (%v): %q", err, body)
		}
		if isRelease {
			want := "release " + p.Repository.FullName + " " + p.Release.TagName + " " + p.Action
			if len(calls) != 1 || calls[0] != want || len(queued) != 0 || !releaseActions[p.Action] {
				t.Fatalf("release 202: got Trigger %q and Enqueue %+v, want Trigger [%q] for a handled action", calls, queued, want)
			}
			return
		}
		number := p.Number
		if number == 0 {
			number = p.PullRequest.Number
		}
		want := PullRequest{
			Repo: p.Repository.FullName, Number: number,
			BaseRef: p.PullRequest.Base.Ref, BaseSHA: p.PullRequest.Base.SHA,
			HeadRef: p.PullRequest.Head.Ref, HeadSHA: p.PullRequest.Head.SHA,
			HeadRepo: p.PullRequest.Head.Repo.FullName,
		}
		if len(queued) != 1 || queued[0] != want || len(calls) != 0 {
			t.Fatalf("pull_request 202: got Enqueue %+v and Trigger %q, want Enqueue [%+v]", queued, calls, want)
		}
		if !pullRequestActions[p.Action] || want.Number <= 0 || want.HeadSHA == "" || want.BaseRef != "main" {
			t.Fatalf("pull_request 202 for action %q, number %d, head %q, base %q", p.Action, want.Number, want.HeadSHA, want.BaseRef)
		}
		if _, _, err := githubapi.SplitRepo(want.Repo); err != nil {
			t.Fatalf("pull_request 202 for repository %q: %v", want.Repo, err)
		}
	})
}
