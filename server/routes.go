package server

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/dashboard"
	"github.com/otagit/otagit/githubapi"
	"github.com/otagit/otagit/httpapi"
	"github.com/otagit/otagit/webhook"
)

// routes returns the handler every listener serves: the device and
// operator API, the dashboard and the GitHub webhook, each request
// counted in s.handlers.
func (s *server) routes() http.Handler {
	router := mux.NewRouter()
	api := httpapi.Config{Snapshots: s.store, Status: s.store, AdminToken: s.cfg.AdminToken, Logger: s.log,
		Now: s.cfg.Now, Read: readAccess, DeviceAuthorizer: s.cfg.DeviceAuthorizer}
	dash := dashboard.Config{Snapshots: s.store, Status: s.store, Logger: s.log, Now: s.cfg.Now, Access: readAccess}
	if s.tracker != nil {
		// Only when set: an interface holding a nil pointer is not nil.
		api.UseTracker(s.tracker)
		dash.UseTracker(s.tracker)
	}
	httpapi.New(api).Register(router)
	dashboard.New(dash).Register(router)

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

// readAccess guards what lists devices and their addresses: the read API
// and the dashboard, through this one wrapper so that one rule protects
// both. The rule today is the read API's as it has always been: open to
// whoever reaches a listener. Read tokens or an operator listener go
// here.
func readAccess(h http.Handler) http.Handler { return h }
