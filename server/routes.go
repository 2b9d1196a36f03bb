package server

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/access"
	"github.com/otagit/otagit/dashboard"
	"github.com/otagit/otagit/githubapi"
	"github.com/otagit/otagit/httpapi"
	"github.com/otagit/otagit/metrics"
	"github.com/otagit/otagit/webhook"
)

// routes returns the handler every listener serves: the device and
// operator API, /metrics, the dashboard and the GitHub webhook, each
// request counted in s.handlers. GET /update is answered before the
// router (httpapi.API.Front): it is most of the traffic.
func (s *server) routes() http.Handler {
	router, devices := s.router()
	return s.handlers.count(clientAddr(s.cfg.TrustedProxies, devices.Front(router)))
}

// router returns the routes without the counting, the client address and
// the /update fast path, and the device API that answers that path.
func (s *server) router() (*mux.Router, *httpapi.API) {
	router := mux.NewRouter()
	guard := &access.Guard{Read: s.cfg.ReadToken, Admin: s.cfg.AdminToken, Logger: s.log}
	api := httpapi.Config{Snapshots: s.store, Status: s.store, Admin: guard.AdminHandler, Logger: s.log,
		Now: s.cfg.Now, Read: guard.ReadHandler, DeviceAuthorizer: s.cfg.DeviceAuthorizer}
	var met *metrics.Metrics
	if !s.cfg.NoMetrics {
		src := metrics.Sources{Store: s.store, GitHub: s.github, Handlers: s.handlers.running, Now: s.cfg.Now}
		if s.tracker != nil {
			src.Tracker = s.tracker
		}
		met = metrics.New(src)
		api.Metrics = met
	}
	dash := dashboard.Config{Snapshots: s.store, Status: s.store, Logger: s.log, Now: s.cfg.Now, Access: guard.ReadHandler}
	if s.store != nil {
		// Downloads are checked against their digests (a route test
		// runs without a store).
		api.Artifacts = s.store.Cache()
	}
	if s.tracker != nil {
		// Only when set: an interface holding a nil pointer is not nil.
		api.UseTracker(s.tracker)
		dash.UseTracker(s.tracker)
	}
	devices := httpapi.New(api)
	devices.Register(router)
	// /metrics lists platforms and versions, as the read API does: the
	// same rule guards it.
	if met != nil {
		router.Handle("/metrics", guard.ReadHandler(met.Handler())).Methods(http.MethodGet, http.MethodHead)
	}
	dashboard.New(dash).Register(router)

	repo := s.cfg.GitHubRepo
	if repo == "" {
		repo = githubapi.RepoOfRemote(s.cfg.Store.Remote.URL)
	}
	router.HandleFunc(access.LoginPath, guard.Login).Methods(http.MethodPost)
	hook := webhook.Config{SecretFunc: s.cfg.WebhookSecret.Bytes, Branch: s.cfg.Store.Remote.Branch, Repo: repo, Syncer: s.store, Logger: s.log}
	if s.reviewer != nil {
		hook.PullRequests = s.reviewer
	}
	router.Handle("/webhook/github", webhook.New(hook)).Methods(http.MethodPost)
	return router, devices
}

// clientAddr puts the client's address (access.Proxies.ClientAddr) in
// r.RemoteAddr before h sees it, so that check-ins, logs and limits all
// see the one derived address.
func clientAddr(p access.Proxies, h http.Handler) http.Handler {
	if p.Len() == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if addr := p.ClientAddr(r); addr != r.RemoteAddr {
			r2 := *r
			r2.RemoteAddr = addr
			r = &r2
		}
		h.ServeHTTP(w, r)
	})
}
