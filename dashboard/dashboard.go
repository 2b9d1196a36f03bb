package dashboard

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/rollout"
)

// Snapshots provides the served snapshot.
type Snapshots interface {
	// Current returns the served snapshot, nil before the first one. It
	// must not block.
	Current() *gitstore.Snapshot
}

// StatusSource provides the sync status.
type StatusSource interface {
	// Status returns the current sync status. It must not block.
	Status() gitstore.Status
}

// What the dashboard reads of what devices reported; checkin.Tracker
// implements each. None of the methods may block for long: they read
// memory, except History, which reads the store.

// HaltSource tells the releases halted at run time.
type HaltSource interface {
	rollout.Halts
	// Halts returns the halted releases.
	Halts() []checkin.Halt
}

// DeviceSource pages through devices and tells one's summary and history.
type DeviceSource interface {
	// Device returns a device's summary, false if it never checked in.
	Device(mac rollout.MAC) (checkin.Device, bool)
	// Index returns the MACs of the devices that checked in, sorted; the
	// slice is shared and not modified.
	Index() []rollout.MAC
	// Match reports whether a device checked in and matches m, without
	// copying its summary.
	Match(mac rollout.MAC, m *checkin.Matcher) (matched, seen bool)
	// History returns a device's last check-ins, newest first.
	History(ctx context.Context, mac rollout.MAC, limit int) ([]checkin.CheckIn, error)
}

// ReleaseState tells a release's outcome counts.
type ReleaseState interface {
	// ReleaseStats returns a release's counts per stage.
	ReleaseStats(id rollout.ReleaseID) []rollout.StageCounts
}

// AdoptionSource tells the versions devices run, now and over time.
type AdoptionSource interface {
	// Adoption returns a platform's version counts over time, ending at
	// now.
	Adoption(platform string, now time.Time) []checkin.AdoptionSample
	// VersionCounts returns the devices per platform and version now.
	VersionCounts() map[string][]checkin.VersionCount
}

// RecordingStats reports how recording check-ins keeps up.
type RecordingStats interface {
	WriterStats() checkin.WriterStats
}

// Config configures a Dashboard.
type Config struct {
	// Snapshots is where the served config comes from. Required.
	Snapshots Snapshots
	// Status reports syncing; optional.
	Status StatusSource
	// The check-in sources are optional: without them the pages show the
	// config only (UseTracker sets them all).
	Halts     HaltSource
	Devices   DeviceSource
	Releases  ReleaseState
	Adoption  AdoptionSource
	Recording RecordingStats
	// Access wraps every page: the rule that protects what lists devices.
	// The server gives the dashboard the same wrapper as the read API.
	// Nil lets every request through.
	Access func(http.Handler) http.Handler
	// Logger receives errors and, at debug level, each page's render
	// time. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now. Simulations set it.
	Now func() time.Time
}

// UseTracker sets every check-in source of c to t, which is all of them.
func (c *Config) UseTracker(t *checkin.Tracker) {
	c.Halts, c.Devices, c.Releases, c.Adoption, c.Recording = t, t, t, t, t
}

// Dashboard serves the pages. It is safe for concurrent use.
type Dashboard struct {
	snaps  Snapshots
	status StatusSource
	// The check-in sources, each nil when not configured.
	halts     HaltSource
	devs      DeviceSource
	releases  ReleaseState
	adoption  AdoptionSource
	recording RecordingStats
	access    func(http.Handler) http.Handler
	log       *slog.Logger
	now       func() time.Time

	pages   map[string]*template.Template // by page name
	static  fs.FS
	cohorts cohortCache
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the templates in templates/, each rendered with
// layout.html.
var pageNames = []string{"overview", "platforms", "platform", "devices", "device", "notfound"}

// New returns a Dashboard for cfg. It panics if the embedded templates do
// not parse, which is a bug caught by every test.
func New(cfg Config) *Dashboard {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Access == nil {
		cfg.Access = func(h http.Handler) http.Handler { return h }
	}
	d := &Dashboard{snaps: cfg.Snapshots, status: cfg.Status, access: cfg.Access,
		halts: cfg.Halts, devs: cfg.Devices, releases: cfg.Releases, adoption: cfg.Adoption, recording: cfg.Recording,
		log: cfg.Logger.With("component", "dashboard"), now: cfg.Now, pages: map[string]*template.Template{}}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	d.static = static
	for _, name := range pageNames {
		t := template.New("layout.html").Funcs(funcs)
		d.pages[name] = template.Must(t.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return d
}

// Register adds the dashboard's routes to r: the overview at "/" and the
// other pages under "/ui/".
func (d *Dashboard) Register(r *mux.Router) {
	get := []string{http.MethodGet, http.MethodHead}
	handle := func(path string, h http.HandlerFunc) { r.Handle(path, d.access(h)).Methods(get...) }
	handle("/", d.overview)
	handle("/ui/platforms", d.platforms)
	handle("/ui/platforms/{platform}", d.platform)
	handle("/ui/devices", d.devices)
	handle("/ui/devices/{mac}", d.device)
	r.PathPrefix("/ui/static/").Handler(d.access(http.StripPrefix("/ui/static/", d.staticHandler()))).Methods(get...)
}

func (d *Dashboard) staticHandler() http.Handler {
	files := http.FileServerFS(d.static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The files change only with the binary; a short cache keeps an
		// upgrade visible within minutes.
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// A name the file system cannot hold (invalid UTF-8, NUL) is not
		// there: FileServerFS would answer it 500.
		if name := strings.TrimPrefix(r.URL.Path, "/"); name != "" && !fs.ValidPath(strings.TrimSuffix(name, "/")) {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// base is what every page shows around its content.
type base struct {
	// Title is the page's title; Nav names the navigation entry it is
	// under.
	Title, Nav string
	// Now is when the page was made.
	Now time.Time
	// Refresh turns on the refresh script's checkbox.
	Refresh bool
	// Serving is the short serving commit, "" before the first one.
	Serving string
	// HaltCount counts the halted releases, for the navigation's badge.
	HaltCount int
}

func (d *Dashboard) base(title, nav string, snap *gitstore.Snapshot, now time.Time) base {
	b := base{Title: title, Nav: nav, Now: now}
	if snap != nil {
		b.Serving = snap.ShortCommit()
	}
	b.HaltCount = len(d.haltList())
	return b
}

// render writes page name with data and status. The page is made in a
// buffer first, so that a failing template gives a clean 500, and the
// time it took goes into Server-Timing.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, data any, start time.Time) {
	var buf bytes.Buffer
	if err := d.pages[name].Execute(&buf, data); err != nil {
		d.log.Error("page failed to render", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "the page could not be rendered; the server log has the reason", http.StatusInternalServerError)
		return
	}
	took := time.Since(start)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// Inline SVG needs no inline style or script: everything else comes
	// from this server.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Server-Timing", "render;dur="+strconv.FormatFloat(float64(took.Microseconds())/1000, 'f', 2, 64))
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	d.log.Debug("dashboard page", "page", name, "path", r.URL.Path, "status", status, "took", took, "bytes", buf.Len())
}

// notFound renders the not-found page with a message.
func (d *Dashboard) notFound(w http.ResponseWriter, r *http.Request, snap *gitstore.Snapshot, now, start time.Time, format string, args ...any) {
	data := struct {
		base
		Message string
	}{d.base("Not found", "", snap, now), fmt.Sprintf(format, args...)}
	d.render(w, r, http.StatusNotFound, "notfound", data, start)
}

// haltList returns the halted releases, none without a halt source.
func (d *Dashboard) haltList() []checkin.Halt {
	if d.halts == nil {
		return nil
	}
	return d.halts.Halts()
}

// halted returns the run-time halts for decisions: nil without a halt
// source (an interface holding a nil HaltSource would not be nil).
func (d *Dashboard) halted() rollout.Halts {
	if d.halts == nil {
		return nil
	}
	return d.halts
}

// versionCounts returns the devices per platform and version, none
// without an adoption source.
func (d *Dashboard) versionCounts() map[string][]checkin.VersionCount {
	if d.adoption == nil {
		return nil
	}
	return d.adoption.VersionCounts()
}
