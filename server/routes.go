package server

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/githubapi"
	"github.com/otagit/otagit/httpapi"
	"github.com/otagit/otagit/webhook"
)

// routes returns the handler every listener serves: the device and
// operator API and the GitHub webhook, each request counted in
// s.handlers.
func (s *server) routes() http.Handler {
	router := mux.NewRouter()
	api := httpapi.Config{Snapshots: s.store, Status: s.store, AdminToken: s.cfg.AdminToken, Logger: s.log}
	if s.tracker != nil {
		// Only when set: an interface holding a nil pointer is not nil.
		api.UseTracker(s.tracker)
	}
	httpapi.New(api).Register(router)

	repo := s.cfg.GitHubRepo
	if repo == "" {
		repo = githubapi.RepoOfRemote(s.cfg.Store.Remote.URL)
	}
	hook := webhook.Config{Secret: s.cfg.WebhookSecret, Branch: s.cfg.Store.Remote.Branch, Repo: repo, Syncer: s.store, Logger: s.log}
	if s.reviewer != nil {
		hook.PullRequests = s.reviewer
	}
	router.Handle("/webhook/github", webhook.New(hook)).Methods(http.MethodPost)
	return s.handlers.count(router)
}
