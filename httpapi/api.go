package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/rollout"
)

// Snapshots provides the snapshot requests are answered from.
type Snapshots interface {
	// Current returns the served snapshot, nil before the first one. It
	// must not block.
	Current() *gitstore.Snapshot
}

// StatusSource provides the sync status shown by /api/status.
type StatusSource interface {
	// Status returns the current sync status. It must not block.
	Status() gitstore.Status
}

// Config configures an API.
type Config struct {
	// Snapshots is where the served config comes from. Required.
	Snapshots Snapshots
	// Status reports syncing; optional.
	Status StatusSource
	// Halts says which releases were halted at run time; optional.
	Halts rollout.Halts
	// Logger receives one record per device request. Default slog.Default().
	Logger *slog.Logger
}

// API holds the HTTP handlers. It is safe for concurrent use.
type API struct {
	snaps  Snapshots
	status StatusSource
	halts  rollout.Halts
	log    *slog.Logger
}

// New returns an API for cfg.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &API{snaps: cfg.Snapshots, status: cfg.Status, halts: cfg.Halts, log: cfg.Logger}
}

// Register adds the API's routes to r.
func (a *API) Register(r *mux.Router) {
	r.HandleFunc("/update", a.update).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/api/status", a.apiStatus).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/healthz", a.healthz).Methods(http.MethodGet, http.MethodHead)
}
