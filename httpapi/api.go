package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/access"
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

// Recorder records device check-ins (checkin.Tracker does).
type Recorder interface {
	// Observe records a device check-in and the decision it got. It must
	// not block. (Both by value: a pointer through an interface would make
	// every request allocate them.)
	Observe(c checkin.CheckIn, dec rollout.Decision)
}

// DeviceSource answers the device API from what devices reported.
type DeviceSource interface {
	// Device returns a device's summary, false if it never checked in.
	Device(mac rollout.MAC) (checkin.Device, bool)
	// Page returns the summaries matching f in MAC order, from offset,
	// at most limit, and how many match in all.
	Page(f checkin.Filter, offset, limit int) ([]checkin.Device, int)
	// History returns a device's last check-ins, newest first.
	History(ctx context.Context, mac rollout.MAC, limit int) ([]checkin.CheckIn, error)
}

// ReleaseState answers the release API: outcome counts and halts.
type ReleaseState interface {
	// ReleaseStats returns a release's counts per stage.
	ReleaseStats(id rollout.ReleaseID) []rollout.StageCounts
	// Halts returns the halted releases.
	Halts() []checkin.Halt
}

// Resumer lifts halts, for the operator API.
type Resumer interface {
	// Resume lifts a release's halt; checkin.ErrNotHalted if it is not halted.
	Resume(id rollout.ReleaseID, now time.Time) error
}

// FilesystemRecords says which filesystem image each device took
// (checkin.Tracker does), so that it is not sent again.
type FilesystemRecords interface {
	// FilesystemSent returns the last filesystem image sent in full to
	// the device with mac, false if none. It must not block.
	FilesystemSent(mac rollout.MAC) (checkin.FilesystemSent, bool)
}

// RecordingStats reports how recording check-ins keeps up.
type RecordingStats interface {
	WriterStats() checkin.WriterStats
	StoreInfo() checkin.StoreInfo
}

// ArtifactOpener opens the file of a binary with SHA-256 sum for
// sending, or fails rather than give bytes that do not hash to sum.
type ArtifactOpener interface {
	Open(file, sum string) (*os.File, error)
}

// Config configures an API. Every source but Snapshots is optional: without
// Recorder nothing is recorded, without Halts nothing is halted, and the
// API parts that need a missing source answer 404.
type Config struct {
	// Snapshots is where the served config comes from. Required.
	Snapshots Snapshots
	// Status reports syncing; optional.
	Status StatusSource
	// Artifacts opens binaries for sending, checking their content
	// against their digest (artifact.Cache does); nil opens the files as
	// they are.
	Artifacts ArtifactOpener
	// Halts says which releases were halted at run time.
	Halts rollout.Halts
	// Recorder records check-ins.
	Recorder Recorder
	// Devices serves /api/devices.
	Devices DeviceSource
	// Releases serves outcome counts and halts.
	Releases ReleaseState
	// Resumer lifts halts (POST .../resume).
	Resumer Resumer
	// Recording reports the check-in writer's counters in /api/status.
	Recording RecordingStats
	// Filesystems says which filesystem image devices took; without it a
	// filesystem image is sent on every filesystem request that is
	// offered one.
	Filesystems FilesystemRecords
	// Admin guards the write calls (POST .../resume): the operator's
	// admin rule (access.Guard.AdminHandler). Nil uses AdminToken with
	// that same rule.
	Admin func(http.Handler) http.Handler
	// AdminToken is the admin token when Admin is nil; empty disables
	// the write calls.
	AdminToken string
	// DeviceAuthorizer decides whether a device request may speak for
	// its device; every device endpoint asks it. Nil lets every request
	// through.
	DeviceAuthorizer DeviceAuthorizer
	// Logger receives one record per device request. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now. Simulations set it.
	Now func() time.Time
	// Read wraps the read API, which lists devices and their addresses
	// (/api/devices and /api/releases): the operator's access rule, which
	// the server also puts in front of the dashboard. Nil lets every
	// request through.
	Read func(http.Handler) http.Handler
	// Metrics, when set, counts every device request and download.
	Metrics DeviceMetrics
}

// UseTracker sets every check-in source of c to t, which is all of them.
func (c *Config) UseTracker(t *checkin.Tracker) {
	c.Halts, c.Recorder, c.Devices, c.Releases, c.Resumer, c.Recording, c.Filesystems = t, t, t, t, t, t, t
}

// API holds the HTTP handlers. It is safe for concurrent use.
type API struct {
	snaps      Snapshots
	artifacts  ArtifactOpener
	status     StatusSource
	halts      rollout.Halts
	recorder   Recorder
	devices    DeviceSource
	releases   ReleaseState
	resumer    Resumer
	recording  RecordingStats
	fsRecords  FilesystemRecords
	admin      func(http.Handler) http.Handler
	authorizer DeviceAuthorizer
	authLog    authLog
	log        *slog.Logger
	now        func() time.Time
	read       func(http.Handler) http.Handler
	metrics    DeviceMetrics
}

// New returns an API for cfg.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Read == nil {
		cfg.Read = func(h http.Handler) http.Handler { return h }
	}
	if cfg.Admin == nil {
		g := &access.Guard{Admin: access.StaticSecret(cfg.AdminToken), Logger: cfg.Logger}
		cfg.Admin = g.AdminHandler
	}
	return &API{
		snaps: cfg.Snapshots, status: cfg.Status, artifacts: cfg.Artifacts,
		halts: cfg.Halts, recorder: cfg.Recorder, devices: cfg.Devices, releases: cfg.Releases,
		resumer: cfg.Resumer, recording: cfg.Recording, fsRecords: cfg.Filesystems,
		admin: cfg.Admin, authorizer: cfg.DeviceAuthorizer, log: cfg.Logger, now: cfg.Now, read: cfg.Read,
		metrics: cfg.Metrics,
	}
}

// Register adds the API's routes to r: the device endpoints of every
// client, and the operator API.
func (a *API) Register(r *mux.Router) {
	a.registerDevices(r)
	r.HandleFunc("/api/status", a.apiStatus).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/healthz", a.healthz).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/devices", a.read(http.HandlerFunc(a.apiDevices))).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/devices/{mac}", a.read(http.HandlerFunc(a.apiDevice))).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/releases/{platform}/{version}", a.read(http.HandlerFunc(a.apiRelease))).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/releases/{platform}/{version}/resume", a.admin(http.HandlerFunc(a.apiResume))).Methods(http.MethodPost)
}

// Front returns next with the stock updaters' poll, GET and HEAD
// /update, answered before it: the request the whole fleet makes every
// poll interval skips the router's pattern matching (which allocates).
// Every other request, and /update with another method, goes to next, in
// which Register has put /update too.
func (a *API) Front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/update" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			a.update(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// registerDevices adds the device endpoints of every client to r. The
// AutoConnect downloads, which match any /NAME.bin and /DIR/NAME.bin, come
// after the others.
func (a *API) registerDevices(r *mux.Router) {
	get := []string{http.MethodGet, http.MethodHead}
	r.HandleFunc("/update", a.update).Methods(get...)
	r.HandleFunc("/_catalog", a.autoConnectCatalog).Methods(get...)
	r.HandleFunc("/devices/{id}", a.fuotaCheck).Methods(get...)
	r.HandleFunc("/files/{mac}/{from}/{file}", a.fuotaFile).Methods(get...)
	r.HandleFunc("/fota/{platform}.json", a.esp32FOTAManifest).Methods(get...)
	r.HandleFunc("/fota/{platform}/{device}/{from}/{file}", a.esp32FOTADownload).Methods(get...)
	r.HandleFunc("/esphome/{platform}.json", a.esphomeManifest).Methods(get...)
	r.HandleFunc("/esphome/{platform}/{device}/{from}/{file}", a.esphomeDownload).Methods(get...)
	r.HandleFunc("/{file:[^/]+\\.bin}", a.autoConnectDownload).Methods(get...)
	r.HandleFunc("/{platform}/{file:[^/]+\\.bin}", a.autoConnectDownload).Methods(get...)
}
