package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
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

// Tracker is what the server learns from device check-ins (see
// checkin.Tracker): it records them, knows which releases are halted, and
// answers the device and release API.
type Tracker interface {
	rollout.Halts
	// Observe records a device check-in and the decision it got. It must
	// not block. (Both by value: a pointer through an interface would make
	// every request allocate them.)
	Observe(c checkin.CheckIn, dec rollout.Decision)
	// Device returns a device's summary, false if it never checked in.
	Device(mac rollout.MAC) (checkin.Device, bool)
	// Devices returns the summaries matching f.
	Devices(f checkin.Filter) []checkin.Device
	// History returns a device's last check-ins, newest first.
	History(ctx context.Context, mac rollout.MAC, limit int) ([]checkin.CheckIn, error)
	// ReleaseStats returns a release's counts per stage.
	ReleaseStats(id rollout.ReleaseID) []rollout.StageCounts
	// Halts returns the halted releases.
	Halts() []checkin.Halt
	// Resume lifts a release's halt.
	Resume(id rollout.ReleaseID, now time.Time) error
	// WriterStats reports how recording keeps up.
	WriterStats() checkin.WriterStats
}

// Config configures an API.
type Config struct {
	// Snapshots is where the served config comes from. Required.
	Snapshots Snapshots
	// Status reports syncing; optional.
	Status StatusSource
	// Tracker records check-ins and serves the device API; optional
	// (without it nothing is recorded and nothing is halted).
	Tracker Tracker
	// AdminToken authorizes operator calls (POST .../resume) given as
	// "Authorization: Bearer <token>"; empty disables them.
	AdminToken string
	// Logger receives one record per device request. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now. Simulations set it.
	Now func() time.Time
}

// API holds the HTTP handlers. It is safe for concurrent use.
type API struct {
	snaps   Snapshots
	status  StatusSource
	tracker Tracker
	halts   rollout.Halts // the tracker, or nil: an interface holding a nil pointer would not be nil
	admin   []byte
	log     *slog.Logger
	now     func() time.Time
}

// New returns an API for cfg.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &API{snaps: cfg.Snapshots, status: cfg.Status, tracker: cfg.Tracker, admin: []byte(cfg.AdminToken), log: cfg.Logger, now: cfg.Now}
	if cfg.Tracker != nil {
		a.halts = cfg.Tracker
	}
	return a
}

// Register adds the API's routes to r.
func (a *API) Register(r *mux.Router) {
	r.HandleFunc("/update", a.update).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/api/status", a.apiStatus).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/healthz", a.healthz).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/api/devices", a.apiDevices).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/api/devices/{mac}", a.apiDevice).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/api/releases/{platform}/{version}", a.apiRelease).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/api/releases/{platform}/{version}/resume", a.apiResume).Methods(http.MethodPost)
}
