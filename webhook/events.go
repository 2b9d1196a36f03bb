package webhook

import (
	"errors"
	"fmt"
	"github.com/otagit/otagit/githubapi"
	"log/slog"
	"net/http"

	"github.com/google/go-github/v60/github"
)

// PullRequest identifies the state of a pull request to review: its
// repository, number, and the commits of its base and head.
type PullRequest struct {
	// Repo is the base repository, "owner/name": where the pull request
	// is, and where statuses and comments go.
	Repo string
	// Number is the pull request's number.
	Number int
	// BaseRef and BaseSHA are the target branch and its commit.
	BaseRef, BaseSHA string
	// HeadRef and HeadSHA are the proposed branch and its commit.
	HeadRef, HeadSHA string
	// HeadRepo is the repository HeadRef is in, "owner/name": Repo for a
	// branch of the same repository, another one for a fork, "" if the
	// fork has been deleted. The head commit can always be fetched from
	// Repo as refs/pull/NUMBER/head.
	HeadRepo string
}

// String returns "owner/name#number", for logs.
func (pr PullRequest) String() string { return fmt.Sprintf("%s#%d", pr.Repo, pr.Number) }

// PullRequestQueue receives pull requests to review. Enqueue must return
// at once: it is called while GitHub waits for the webhook's answer.
// *Reviewer implements it.
type PullRequestQueue interface {
	Enqueue(PullRequest)
}

// releaseActions are the release event actions that can change what is
// served: a release appears (published, released), changes (edited,
// prereleased) or goes away (deleted, unpublished). "created" is left
// out: it is sent for drafts, which are never served, and a release
// published at once also gets "published".
var releaseActions = map[string]bool{
	"published":   true,
	"released":    true,
	"prereleased": true,
	"edited":      true,
	"deleted":     true,
	"unpublished": true,
}

// pullRequestActions are the pull_request actions that change the
// proposed commit, so the plan must be (re)computed. Other actions
// (edited title, labels, closed...) leave it as it was.
var pullRequestActions = map[string]bool{
	"opened":      true,
	"synchronize": true,
	"reopened":    true,
}

// parseEvent parses a payload with go-github into the type of event.
func parseEvent[T any](event string, body []byte) (T, error) {
	var zero T
	v, err := github.ParseWebHook(event, body)
	if err != nil {
		return zero, err
	}
	ev, ok := v.(T)
	if !ok {
		// A JSON null decodes to no event at all.
		return zero, errors.New("payload is not a JSON object")
	}
	return ev, nil
}

// release handles a release delivery: releases can be served, so any
// change to one triggers a sync, which reads the releases again.
func (h *Handler) release(w http.ResponseWriter, log *slog.Logger, body []byte) {
	ev, err := parseEvent[*github.ReleaseEvent]("release", body)
	if err != nil {
		log.Warn("bad release payload", "err", err)
		http.Error(w, "bad release payload: "+err.Error(), http.StatusBadRequest)
		return
	}
	action, repo, tag := ev.GetAction(), ev.GetRepo().GetFullName(), ev.GetRelease().GetTagName()
	log = log.With("action", action, "repo", repo, "tag", tag)
	if !releaseActions[action] {
		log.Info("release ignored: action not handled")
		writeText(w, http.StatusOK, "ignored: release action "+action+" is not handled")
		return
	}
	if repo == "" || tag == "" {
		log.Warn("bad release payload: no repository or tag")
		http.Error(w, "bad release payload: no repository full_name or release tag_name", http.StatusBadRequest)
		return
	}
	log.Info("release: syncing")
	h.cfg.Syncer.Trigger("release " + repo + " " + tag + " " + action)
	writeText(w, http.StatusAccepted, "sync triggered")
}

// pullRequest handles a pull_request delivery: a new head commit is
// queued for review.
func (h *Handler) pullRequest(w http.ResponseWriter, log *slog.Logger, body []byte) {
	ev, err := parseEvent[*github.PullRequestEvent]("pull_request", body)
	if err != nil {
		log.Warn("bad pull_request payload", "err", err)
		http.Error(w, "bad pull_request payload: "+err.Error(), http.StatusBadRequest)
		return
	}
	p := ev.GetPullRequest()
	number := ev.GetNumber()
	if number == 0 {
		number = p.GetNumber()
	}
	pr := PullRequest{
		Repo:     ev.GetRepo().GetFullName(),
		Number:   number,
		BaseRef:  p.GetBase().GetRef(),
		BaseSHA:  p.GetBase().GetSHA(),
		HeadRef:  p.GetHead().GetRef(),
		HeadSHA:  p.GetHead().GetSHA(),
		HeadRepo: p.GetHead().GetRepo().GetFullName(),
	}
	action, repoErr := ev.GetAction(), validRepo(pr.Repo)
	log = log.With("action", action, "repo", pr.Repo, "pr", pr.Number, "head_sha", short(pr.HeadSHA))
	switch {
	case !pullRequestActions[action]:
		log.Info("pull request ignored: action not handled")
		writeText(w, http.StatusOK, "ignored: pull_request action "+action+" is not handled")
	case !h.configRepo(pr.Repo):
		log.Info("pull request ignored: not the config repository")
		writeText(w, http.StatusOK, "ignored: not the config repository")
	case h.cfg.PullRequests == nil:
		log.Info("pull request ignored: review is off")
		writeText(w, http.StatusOK, "ignored: pull request review is off (no GitHub token)")
	case pr.Number <= 0 || pr.HeadSHA == "" || pr.BaseRef == "":
		log.Warn("bad pull_request payload: no number, base ref or head sha")
		http.Error(w, "bad pull_request payload: no number, base ref or head sha", http.StatusBadRequest)
	case repoErr != nil:
		log.Warn("bad pull_request payload", "err", repoErr)
		http.Error(w, "bad pull_request payload: "+repoErr.Error(), http.StatusBadRequest)
	case pr.BaseRef != h.cfg.Branch:
		// Like pushes: only changes to the served branch matter here.
		log.Info("pull request ignored: not against the served branch", "base_ref", pr.BaseRef)
		writeText(w, http.StatusOK, "ignored: pull request is not against the served branch")
	default:
		log.Info("pull request: review queued", "base_ref", pr.BaseRef, "head_repo", pr.HeadRepo)
		h.cfg.PullRequests.Enqueue(pr)
		writeText(w, http.StatusAccepted, "review queued")
	}
}

func validRepo(repo string) error {
	_, _, err := githubapi.SplitRepo(repo)
	return err
}
