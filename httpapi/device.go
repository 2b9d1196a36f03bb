package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/internal/lograte"
	"github.com/otagit/otagit/rollout"
)

// Every device request, whatever client sends it (the stock updaters'
// GET /update, AutoConnect, the FUOTA app, esp32FOTA, ESPHome), takes one
// path, serveDevice: identify the device, authorize it, decide, answer,
// record. A client's endpoint only says how its requests name the device
// and what they ask (identify), and how it is answered (answer, refuse);
// the snapshot, authorization, the decision, the log record and the
// check-in are the path's, so that they are alike for every client and a
// rule added here (device authentication, say) covers them all.

// endpoint is one device client's side of the shared path. Its methods
// are called on the request's goroutine, in the order identify, answer;
// refuse instead of either when the request is refused.
type endpoint interface {
	// client names the client in logs and check-ins: one of the client*
	// constants.
	client() string
	// identify reads from c.r which device asks and what, into c.req,
	// c.named, c.reported and c.dr, and c.decide whether a decision is
	// wanted. It
	// returns a refusal when the request cannot be answered (it is
	// malformed, or names nothing that exists), nil to go on.
	identify(a *API, c *deviceCall) *refusal
	// answer writes the answer to c.dec, or for a call with no decision
	// what the client asked, and returns the status sent. It sets
	// c.offered when it sent a release's image in full, and may set
	// c.note, a short reason for the log.
	answer(a *API, c *deviceCall) int
	// refuse writes a refusal in the client's own terms: the status it
	// understands and a short body, with an exact Content-Length.
	refuse(c *deviceCall, rf refusal)
}

// The clients, as check-ins and logs name them (checkin.CheckIn.Client).
const (
	clientUpdate      = "update"      // ESP8266httpUpdate, ESP32 HTTPUpdate: GET /update
	clientAutoConnect = "autoconnect" // AutoConnectUpdate: GET /_catalog, then the file picked
	clientFUOTA       = "fuota"       // the esp32-fuota app: GET /devices/<id>, then /files/...
	clientESP32FOTA   = "esp32fota"   // esp32FOTA: GET /fota/<platform>.json, then the image
	clientESPHome     = "esphome"     // ESPHome's http_request update: GET /esphome/<platform>.json
)

// refusal is a request the path does not answer with a decision: its
// status and a one-line reason.
type refusal struct {
	status int
	reason string
	// auth is set when the request was refused for its credentials;
	// each client expects its own status for that.
	auth bool
	// dec is the decision that refused, nil when none was made.
	dec *rollout.Decision
}

// deviceCall is one device request on its way through serveDevice.
type deviceCall struct {
	w     http.ResponseWriter
	r     *http.Request
	start time.Time
	// snap is the snapshot the request is answered from, loaded once.
	snap *gitstore.Snapshot

	// Set by identify:

	// dr is what the request's headers (or URL) say about the device.
	dr deviceRequest
	// req is the request decided on; the path sets its Now.
	req rollout.Request
	// named is set when the request names a device: c.req.MAC is its
	// MAC (and c.dr.mac says it the way the request did, for the log).
	named bool
	// reported is the version the request itself reports, "" when it
	// reports none (the check-in then resolves no offer: see
	// checkin.Tracker.Observe).
	reported string
	// decide is set when the request wants a decision; without one (a
	// catalog) the path only authorizes, answers and logs it.
	decide bool

	// dec is the decision, made by the path.
	dec rollout.Decision
	// auth is how the request proved its device, from the authorizer.
	auth checkin.Auth

	// Set by serveDevice for answer:

	// e is the request's endpoint; ow is c.w while answer runs.
	e  endpoint
	ow observingWriter
	// observed is set once the check-in is recorded.
	observed bool

	// Set by answer:

	// offering is the version whose image answer sends, if its status is
	// 200; the check-in records it as offered then.
	offering string
	// deferCheckIn is set by an answer whose check-in records what was
	// sent in full (a filesystem image): it is recorded after the answer.
	deferCheckIn bool
	// offered is the version whose image was sent, "" when none was.
	offered string
	// fsSent is the SHA-256 of the filesystem image sent in full, "" when
	// none was.
	fsSent string
	// note explains the answer in the log when the decision's reason
	// does not, e.g. "version query".
	note string
}

// DeviceAuthorizer decides whether a device request may speak for the
// device it names. The shared device path asks it for every device
// request, of every client, before anything is decided or recorded.
type DeviceAuthorizer interface {
	// AuthorizeDevice returns how r proved it may speak for dev, the
	// whitelist entry of the device r names (nil for a device in no
	// whitelist, or a request that names no device), of platform (the
	// platform the request names, "" when it names none), or an error
	// saying, in one line for the log, why it may not. The check-in
	// carries the answer (checkin.CheckIn.Auth). It must not block for
	// long: it runs on the request path.
	AuthorizeDevice(r *http.Request, dev *rollout.Device, platform string) (checkin.Auth, error)
}

// serveDevice runs a device request of client e through the shared path.
func (a *API) serveDevice(w http.ResponseWriter, r *http.Request, e endpoint) {
	// The call goes through interface methods, so it lives on the heap:
	// pooled, so that the common poll allocates nothing for it.
	c := callPool.Get().(*deviceCall)
	defer func() { *c = deviceCall{}; callPool.Put(c) }()
	c.w, c.r, c.start = w, r, a.now()
	c.dr.free, c.dr.chip = -1, -1
	c.snap = a.snaps.Current()
	if c.snap == nil {
		w.Header()["Retry-After"] = []string{"30"}
		a.refuseDevice(c, e, refusal{status: http.StatusServiceUnavailable, reason: "no config loaded yet"})
		return
	}
	if rf := e.identify(a, c); rf != nil {
		a.refuseDevice(c, e, *rf)
		return
	}
	auth, err := a.authorizeDevice(c)
	if err != nil {
		a.refuseDevice(c, e, refusal{status: http.StatusUnauthorized, reason: err.Error(), auth: true})
		return
	}
	c.auth = auth
	if c.decide {
		c.req.Now = c.start
		c.dec = rollout.Decide(c.snap.Fleet, c.req, a.halts)
	}
	// The check-in is recorded as the answer's status is written, before
	// any byte of it reaches the device (observingWriter): a check-in the
	// device got an answer to is acknowledged, in the journal.
	c.e = e
	c.ow = observingWriter{ResponseWriter: c.w, a: a, c: c}
	c.w = &c.ow
	status := e.answer(a, c)
	var dec *rollout.Decision
	if c.decide {
		dec = &c.dec
	}
	if !c.observed {
		// An answer that wrote nothing, or deferred the check-in
		// (deferCheckIn): recorded now, with what it sent.
		c.observed = true
		a.recordDevice(c, e, status)
	}
	a.finishDevice(c, e, dec, status, c.note, false)
}

// observingWriter records the check-in of the answer written through it
// (API.recordDevice) when the answer's status is written, before the
// status reaches the connection, unless the answer deferred it. It lives
// in the pooled deviceCall, so it costs a poll no allocation.
type observingWriter struct {
	http.ResponseWriter
	a *API
	c *deviceCall
}

func (o *observingWriter) observe(status int) {
	c := o.c
	if c.observed || c.deferCheckIn {
		return
	}
	c.observed = true
	if status == http.StatusOK {
		// The image is offered once its sending starts: the device may
		// be cut off, retry, or come back on its old version.
		c.offered = c.offering
	}
	o.a.recordDevice(c, c.e, status)
}

func (o *observingWriter) WriteHeader(code int) {
	o.observe(code)
	o.ResponseWriter.WriteHeader(code)
}

func (o *observingWriter) Write(b []byte) (int, error) {
	o.observe(http.StatusOK)
	return o.ResponseWriter.Write(b)
}

// ReadFrom keeps sendfile for a body copied from a file.
func (o *observingWriter) ReadFrom(src io.Reader) (int64, error) {
	o.observe(http.StatusOK)
	return io.Copy(o.ResponseWriter, src)
}

// Unwrap serves http.ResponseController.
func (o *observingWriter) Unwrap() http.ResponseWriter { return o.ResponseWriter }

// callPool holds deviceCalls between requests; nothing keeps one after
// serveDevice returns.
var callPool = sync.Pool{New: func() any { return new(deviceCall) }}

// authorizeDevice asks the configured DeviceAuthorizer whether c may
// speak for the device it names; without one every request may.
func (a *API) authorizeDevice(c *deviceCall) (checkin.Auth, error) {
	if a.authorizer == nil {
		// Before the lookup below: without an authorizer the fleet is
		// searched once per request, by the decision.
		return checkin.AuthNone, nil
	}
	var dev *rollout.Device
	if c.named && !c.req.Anonymous {
		dev = c.snap.Fleet.Device(c.req.MAC)
	}
	return a.authorizer.AuthorizeDevice(c.r, dev, c.dr.dev)
}

// authLog rate-limits the log lines of refused credentials: at most
// authLogBurst a minute, then one line counting those left out. The zero
// value is ready to use.
type authLog struct {
	once sync.Once
	lim  lograte.Limiter
}

const authLogBurst = 10

func (l *authLog) refused(log *slog.Logger, now time.Time, mac, remote, client, reason string) {
	l.once.Do(func() { l.lim.Burst, l.lim.Window = authLogBurst, time.Minute })
	ok, skipped := l.lim.Allow(now)
	if !ok {
		return
	}
	if skipped > 0 {
		log.Warn("device credentials refused: lines left out", "count", skipped)
	}
	log.Warn("device credentials refused", "mac", mac, "remote", remote, "client", client, "reason", reason)
}

// refuseDevice answers and logs a refusal. Nothing is recorded: anyone
// can send any request, and refusals are in the log.
func (a *API) refuseDevice(c *deviceCall, e endpoint, rf refusal) {
	e.refuse(c, rf)
	a.finishDevice(c, e, rf.dec, rf.status, rf.reason, rf.auth)
}

// refuseDecision turns a decision that refuses the device (not
// whitelisted, unknown platform, bad version) into the refusal the
// clients that speak HTTP status codes expect.
func refuseDecision(dec *rollout.Decision) refusal {
	return refusal{status: statusOf(dec.Outcome), reason: dec.Reason(), dec: dec}
}

// recordDevice records a whitelisted device's request as a check-in.
// Only GET requests are: a HEAD downloads nothing.
func (a *API) recordDevice(c *deviceCall, e endpoint, status int) {
	if a.recorder == nil || c.r.Method != http.MethodGet || !c.decide || c.dec.Device == nil {
		return
	}
	platform := c.dr.dev
	if c.dec.Platform != nil {
		platform = c.dec.Platform.Name
	}
	a.recorder.Observe(checkin.CheckIn{
		MAC: c.dec.Device.MAC, At: c.start, Platform: platform, Version: c.reported, SketchMD5: c.dr.md5,
		FreeSpace: c.dr.free, ChipSize: c.dr.chip, SDK: c.dr.sdk, Remote: c.r.RemoteAddr,
		Status: status, Decision: c.dec.Outcome.String(), Offered: c.offered, Client: e.client(),
		Mode: c.req.Mode.String(), Filesystem: c.fsSent, Auth: c.auth,
	}, c.dec)
}

// logDevice writes the one log record every device request gets. A
// request answered up_to_date (a poll that changes nothing, whatever held
// a newer release back) is logged at DEBUG: a fleet polling every minute
// would otherwise fill the log with them, and /metrics counts them by
// reason. Everything else (downloads, refusals) is logged at INFO, server
// errors at ERROR. A decision's record always says why (reason) and by
// which rule (why), so that a held-back 304 logged at DEBUG says what
// held it.
func (a *API) logDevice(c *deviceCall, e endpoint, dec *rollout.Decision, status int, reason string) {
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case dec != nil && dec.Outcome == rollout.UpToDate:
		level = slog.LevelDebug
	}
	if a.log.Enabled(context.Background(), level) {
		a.writeDeviceLog(c, e, dec, status, reason, level)
	}
}

// writeDeviceLog writes logDevice's record. It is a function of its own so
// that its large frame (the attributes) takes stack only when a record is
// written: the common poll, logged at DEBUG, runs on less stack, which a
// new connection's small goroutine stack then need not grow (be copied)
// for.
func (a *API) writeDeviceLog(c *deviceCall, e endpoint, dec *rollout.Decision, status int, reason string, level slog.Level) {
	attrs := make([]slog.Attr, 0, 14)
	mac := c.dr.mac
	if c.req.Anonymous {
		mac = "anonymous"
	}
	attrs = append(attrs,
		slog.String("mac", mac),
		slog.String("platform", c.dr.dev),
		slog.String("version", c.dr.version),
		slog.Int("status", status),
	)
	if cl := e.client(); cl != clientUpdate {
		attrs = append(attrs, slog.String("client", cl))
	}
	if dec != nil {
		if m := dec.Request.Mode; m != rollout.ModeSketch {
			attrs = append(attrs, slog.String("mode", m.String()))
		}
		attrs = append(attrs, slog.String("decision", dec.Outcome.String()), slog.String("why", dec.Why.String()))
		if dec.Platform != nil && c.dr.dev == "" {
			attrs[1] = slog.String("platform", dec.Platform.Name)
		}
		if dec.Outcome == rollout.Update {
			attrs = append(attrs, slog.String("offered", dec.Release.Version.String()))
		}
		if reason == "" {
			reason = dec.Reason()
		} else if dec.Outcome == rollout.UpToDate {
			reason += ": " + dec.Reason()
		}
	}
	if reason != "" {
		attrs = append(attrs, slog.String("reason", reason))
	}
	attrs = append(attrs, slog.String("remote", c.r.RemoteAddr), slog.Duration("took", time.Since(c.start)))
	a.log.LogAttrs(context.Background(), level, "device request", attrs...)
}

// writeBody answers with status and body, of the given content type, with
// an exact Content-Length: device clients read exactly that many bytes,
// and some cannot read a chunked body at all.
func writeBody(w http.ResponseWriter, status int, contentType []string, body []byte) {
	h := w.Header()
	h["Content-Type"] = contentType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	w.Write(body)
}

// writeText answers with status and a one-line text body.
func writeText(w http.ResponseWriter, status int, reason string) {
	w.Header()["X-Content-Type-Options"] = []string{"nosniff"}
	writeBody(w, status, textPlain, []byte(reason+"\n"))
}
