package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/githubapi"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/rollout"
)

// Sources are the state a scrape reads. Every field may be nil: its
// metrics are then left out.
type Sources struct {
	// Store is the Git store: sync status and the serving snapshot.
	Store interface {
		Status() gitstore.Status
		Current() *gitstore.Snapshot
	}
	// Tracker is the check-in tracker: halts, per-stage counts and its
	// writer's queue.
	Tracker interface {
		Halts() []checkin.Halt
		ReleaseStats(id rollout.ReleaseID) []rollout.StageCounts
		WriterStats() checkin.WriterStats
		StoreInfo() checkin.StoreInfo
	}
	// GitHub is the GitHub API client.
	GitHub interface{ APIStats() githubapi.APIStats }
	// Handlers returns how many HTTP handlers run now.
	Handlers func() int64
	// Now is the clock the ages are measured with; time.Now when nil.
	Now func() time.Time
}

// Metrics is a registry of otagit's metrics (its own, not Prometheus'
// global one) and the counters the device request path updates. It
// implements httpapi.DeviceMetrics.
type Metrics struct {
	reg       *prometheus.Registry
	src       Sources
	devices   *deviceTable
	downloads atomic.Int64
	bytesSent atomic.Uint64
}

// New returns the metrics of src, with the Go runtime and process
// collectors.
func New(src Sources) *Metrics {
	if src.Now == nil {
		src.Now = time.Now
	}
	m := &Metrics{reg: prometheus.NewRegistry(), src: src, devices: newDeviceTable()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), (*collector)(m))
	return m
}

// Registry returns the registry, for tests and other exporters.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
// Scrapes run one at a time, for at most ten seconds each.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 1, Timeout: 10 * time.Second})
}

// DeviceRequest counts a device request: an atomic add on a series found
// in a map without a lock, and no allocation.
func (m *Metrics) DeviceRequest(client string, status int, dec *rollout.Decision) {
	k := deviceKey{platform: platformUnknown, status: uint16(min(max(status, 0), 999)), client: client}
	if dec != nil {
		k.outcome, k.why = dec.Outcome, dec.Why
		if dec.Platform != nil {
			k.platform = dec.Platform.Name
		}
	}
	m.devices.inc(k)
}

// DownloadStarted counts a download in flight.
func (m *Metrics) DownloadStarted() { m.downloads.Add(1) }

// DownloadEnded ends a download in flight that sent bytes.
func (m *Metrics) DownloadEnded(bytes int64) {
	m.downloads.Add(-1)
	m.bytesSent.Add(uint64(max(bytes, 0)))
}

// Names lists the name of every metric the registry exports (besides the
// Go runtime's and the process's), for tests of alert rules and
// dashboards.
func Names() []string {
	var out []string
	for _, d := range descs {
		out = append(out, d.name)
	}
	return out
}

type desc struct {
	*prometheus.Desc
	name string
}

func newDesc(name, help string, labels ...string) desc {
	return desc{prometheus.NewDesc(name, help, labels, nil), name}
}

var (
	descDeviceRequests = newDesc("otagit_device_requests_total",
		"Device requests answered, by endpoint (client), status, decision (none when refused before deciding), reason (the rule that decided, e.g. latest, not_in_cohort, halted, no_space) and platform (unknown when none resolved).",
		deviceLabels...)
	descBytesSent   = newDesc("otagit_device_bytes_sent_total", "Bytes of firmware and filesystem images sent to devices.")
	descDownloads   = newDesc("otagit_device_downloads_in_flight", "Image downloads being sent now.")
	descHandlers    = newDesc("otagit_http_requests_in_flight", "HTTP handlers running now.")
	descServing     = newDesc("otagit_serving_commit_info", "The commit being served (value 1).", "commit", "branch")
	descSyncs       = newDesc("otagit_sync_attempts_total", "Finished Git sync attempts, successful or not.")
	descSyncOK      = newDesc("otagit_sync_ok", "1 when the last sync succeeded, 0 when it failed (fetch, auth, storage, or a rejected commit).")
	descSyncTook    = newDesc("otagit_sync_duration_seconds", "How long the last successful sync took.")
	descSyncedAt    = newDesc("otagit_sync_last_success_timestamp_seconds", "When the last successful sync finished, in Unix seconds.")
	descSyncAge     = newDesc("otagit_sync_seconds_since_success", "Seconds since the last successful sync finished.")
	descRejected    = newDesc("otagit_commit_rejected", "1 while the branch head is rejected (invalid config or untrusted signature), else 0.")
	descRejectedSHA = newDesc("otagit_rejected_commit_info", "The rejected branch head (value 1), while there is one.", "commit")
	descGHDegraded  = newDesc("otagit_github_degraded", "1 while the last sync could not read GitHub releases fully, else 0.")
	descGHRequests  = newDesc("otagit_github_api_requests_total", "HTTP exchanges with the GitHub API.")
	descGHErrors    = newDesc("otagit_github_api_errors_total", "GitHub API exchanges that failed: no answer, or a status >= 400 other than 404.")
	descGHRemaining = newDesc("otagit_github_rate_limit_remaining", "The rate limit remaining GitHub last reported.")
	descHalted      = newDesc("otagit_release_halted", "A release halted by its failures (value 1), by platform and version.", "platform", "version")
	descHaltedN     = newDesc("otagit_releases_halted", "How many releases are halted now.")
	descStage       = newDesc("otagit_release_stage_devices",
		"Devices of a release's rollout stage (1-based; none for a release without stages) by state: offered, succeeded, failed.",
		"platform", "version", "stage", "state")
	descStoreUp = newDesc("otagit_checkin_store_up", "1 while the check-in store reaches its database and has been read, else 0; only for a store over the network (PostgreSQL).")
	descQueue   = newDesc("otagit_checkin_queue_depth", "Check-ins accepted and not yet saved.")
	descSaved   = newDesc("otagit_checkins_saved_total", "Check-ins saved.")
	descDropped = newDesc("otagit_checkins_dropped_total", "Check-ins dropped because the queue was full.")
	descLost    = newDesc("otagit_checkins_lost_total", "Check-ins given up on at shutdown because the store kept failing.")
	descSaveErr = newDesc("otagit_checkin_save_failures_total", "Batches of check-ins the store failed to save (they are retried).")

	descs = []desc{descDeviceRequests, descBytesSent, descDownloads, descHandlers, descServing, descSyncs, descSyncOK,
		descSyncTook, descSyncedAt, descSyncAge, descRejected, descRejectedSHA, descGHDegraded, descGHRequests, descGHErrors,
		descGHRemaining, descHalted, descHaltedN, descStage, descStoreUp, descQueue, descSaved, descDropped, descLost, descSaveErr}
)

// collector exports Metrics: the request path's counters, and the
// sources' state read at scrape time.
type collector Metrics

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs {
		ch <- d.Desc
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d.Desc, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d.Desc, prometheus.GaugeValue, v, labels...)
	}
	bool01 := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, s := range c.devices.snapshot() {
		counter(descDeviceRequests, float64(s.n.Load()), s.key.labels()...)
	}
	counter(descBytesSent, float64(c.bytesSent.Load()))
	gauge(descDownloads, float64(c.downloads.Load()))
	if c.src.Handlers != nil {
		gauge(descHandlers, float64(c.src.Handlers()))
	}
	if c.src.Store != nil {
		st := c.src.Store.Status()
		if st.Commit != "" {
			gauge(descServing, 1, st.Commit, st.Branch)
		}
		counter(descSyncs, float64(st.Syncs))
		gauge(descSyncOK, bool01(st.LastError == ""))
		if !st.SyncedAt.IsZero() {
			gauge(descSyncTook, st.SyncDuration.Seconds())
			gauge(descSyncedAt, float64(st.SyncedAt.UnixNano())/1e9)
			gauge(descSyncAge, c.src.Now().Sub(st.SyncedAt).Seconds())
		}
		gauge(descRejected, bool01(st.RejectedCommit != ""))
		if st.RejectedCommit != "" {
			gauge(descRejectedSHA, 1, st.RejectedCommit)
		}
		gauge(descGHDegraded, bool01(st.GitHubError != ""))
	}
	if c.src.GitHub != nil {
		gh := c.src.GitHub.APIStats()
		counter(descGHRequests, float64(gh.Requests))
		counter(descGHErrors, float64(gh.Errors))
		if gh.RateLimitRemaining >= 0 {
			gauge(descGHRemaining, float64(gh.RateLimitRemaining))
		}
	}
	if c.src.Tracker != nil {
		c.collectTracker(gauge, counter)
	}
}

func (c *collector) collectTracker(gauge, counter func(desc, float64, ...string)) {
	t := c.src.Tracker
	halts := t.Halts()
	for _, h := range halts {
		gauge(descHalted, 1, h.Platform, h.Version)
	}
	gauge(descHaltedN, float64(len(halts)))
	if c.src.Store != nil {
		if snap := c.src.Store.Current(); snap != nil {
			for _, p := range snap.Fleet.Platforms() {
				for _, r := range p.Releases {
					v := r.Version.String()
					for _, st := range t.ReleaseStats(r.ID()) {
						stage := "none"
						if st.Stage >= 0 {
							stage = strconv.Itoa(st.Stage + 1)
						}
						gauge(descStage, float64(st.Offered), p.Name, v, stage, "offered")
						gauge(descStage, float64(st.Succeeded), p.Name, v, stage, "succeeded")
						gauge(descStage, float64(st.Failed), p.Name, v, stage, "failed")
					}
				}
			}
		}
	}
	ws := t.WriterStats()
	if info := t.StoreInfo(); info.Reachable != nil {
		up := 0.0
		if *info.Reachable && info.Loaded {
			up = 1
		}
		gauge(descStoreUp, up)
	}
	gauge(descQueue, float64(ws.Queued))
	counter(descSaved, float64(ws.Saved))
	counter(descDropped, float64(ws.Dropped))
	counter(descLost, float64(ws.Lost))
	counter(descSaveErr, float64(ws.Failures))
}
