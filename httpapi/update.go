package httpapi

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/rollout"
)

var (
	octetStream = []string{"application/octet-stream"}
	textPlain   = []string{"text/plain; charset=utf-8"}
	noStore     = []string{"no-store"}
)

// update answers GET /update for the stock ESP8266httpUpdate and ESP32
// HTTPUpdate clients (see PROTOCOL.md): 200 with the image, 304 when there
// is nothing newer, 400 for a request it cannot read, 403 for a device that
// is not whitelisted, 404 for an unknown platform.
func (a *API) update(w http.ResponseWriter, r *http.Request) { a.serveDevice(w, r, updateClient{}) }

// updateClient is GET /update's side of the shared device path.
type updateClient struct{}

func (updateClient) client() string { return clientUpdate }

func (updateClient) identify(a *API, c *deviceCall) *refusal {
	c.dr = readDeviceRequest(c.r)
	dr := &c.dr
	if dr.mac == "" {
		return &refusal{status: http.StatusBadRequest, reason: "missing x-ESP8266-STA-MAC or x-ESP32-STA-MAC header"}
	}
	mac, err := rollout.ParseMAC(dr.mac)
	if err != nil {
		return &refusal{status: http.StatusBadRequest, reason: "bad station MAC header: " + err.Error()}
	}
	if dr.version == "" {
		return &refusal{status: http.StatusBadRequest, reason: "missing version: add ?ver=<version> to the URL or pass the version to the update call"}
	}
	mode, _ := rollout.ParseMode(dr.mode)
	c.req = rollout.Request{
		MAC: mac, Platform: dr.dev, Version: dr.version,
		SketchMD5: dr.md5, FreeSpace: freeSpace(dr.free), ChipSize: max(dr.chip, 0),
		Mode: mode, FilesystemTaken: a.filesystemTaken(mode, mac),
	}
	c.named, c.reported, c.decide = true, dr.version, true
	return nil
}

func (updateClient) answer(a *API, c *deviceCall) int {
	dec := &c.dec
	mode := c.req.Mode
	switch {
	case mode == rollout.ModeVersion && (dec.Outcome == rollout.Update || dec.Outcome == rollout.UpToDate):
		return a.answerVersion(c)
	case dec.Outcome == rollout.Update && mode == rollout.ModeFilesystem:
		return a.serveFilesystem(c)
	case dec.Outcome == rollout.Update:
		c.offering = dec.Release.Version.Original()
		status, _ := a.serveImage(c.w, c.r, dec.Release, &dec.Release.Artifact, imageName(dec.Release, &dec.Release.Artifact, ""))
		return status
	case dec.Outcome == rollout.UpToDate:
		c.w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	rf := refuseDecision(dec)
	writeText(c.w, rf.status, rf.reason)
	c.note = rf.reason
	return rf.status
}

// refuse answers as the stock updaters understand: the status, and a
// challenge for a device that must authenticate (ESP8266 cores report a
// 401 as HTTP_UE_SERVER_UNAUTHORIZED, -108).
func (updateClient) refuse(c *deviceCall, rf refusal) {
	if rf.auth {
		c.w.Header()["Www-Authenticate"] = basicChallenge
	}
	writeText(c.w, rf.status, rf.reason)
}

// basicChallenge is the WWW-Authenticate of a 401 to a device.
var basicChallenge = []string{`Basic realm="otagit", charset="UTF-8"`}

// freeSpace maps the device's free-space header to rollout's convention,
// where 0 means "not sent": a device that reports 0 bytes free really has
// no room, so it must not be offered an image it would fail to take.
func freeSpace(n int64) int64 {
	switch {
	case n < 0:
		return 0
	case n == 0:
		return 1
	}
	return n
}

// serveImage sends binary art of release rel from the artifact cache with
// the headers the device updaters check, as file name. It returns the
// status sent, and whether the whole binary was sent (not for HEAD or a
// range, nor when the connection broke).
func (a *API) serveImage(w http.ResponseWriter, r *http.Request, rel *rollout.Release, art *rollout.Artifact, name string) (int, bool) {
	f, err := a.openArtifact(art)
	if errors.Is(err, artifact.ErrCorrupt) {
		a.log.Error("artifact corrupt on disk: not sent, being stored again", "platform", rel.Platform, "version", rel.Version.String(),
			"file", art.File, "err", err)
		w.Header().Set("Retry-After", "10")
		http.Error(w, "firmware file being repaired", http.StatusServiceUnavailable)
		return http.StatusServiceUnavailable, false
	}
	if err != nil {
		a.log.Error("artifact missing from cache", "platform", rel.Platform, "version", rel.Version.String(),
			"file", art.File, "err", err)
		http.Error(w, "firmware file unavailable", http.StatusInternalServerError)
		return http.StatusInternalServerError, false
	}
	defer f.Close()
	h := w.Header()
	h["Content-Type"] = octetStream
	h["Cache-Control"] = noStore
	// Header names as the reference PHP server writes them; clients match
	// them case-insensitively anyway. x-MD5 is of the bytes sent, which
	// the updater checks the download against.
	h["x-MD5"] = []string{art.MD5}
	h["Content-Disposition"] = []string{"attachment; filename=" + name}
	h["Etag"] = []string{`"` + art.SHA256 + `"`}
	rec := &statusRecorder{ResponseWriter: w}
	if a.metrics != nil {
		a.metrics.DownloadStarted()
		defer func() { a.metrics.DownloadEnded(rec.written) }()
	}
	// ServeContent sets the exact Content-Length, answers HEAD and Range
	// requests, and lets the kernel send the file (sendfile).
	http.ServeContent(rec, r, "", time.Time{}, f)
	return rec.status, rec.status == http.StatusOK && rec.written == art.Size && r.Method == http.MethodGet
}

// openArtifact opens art's file through Config.Artifacts.
func (a *API) openArtifact(art *rollout.Artifact) (*os.File, error) {
	if a.artifacts == nil {
		return os.Open(art.File)
	}
	return a.artifacts.Open(art.File, art.SHA256)
}

// imageName is the file name a release's binary is sent as:
// PLATFORM-VERSION[SUFFIX].bin, with .gz for a gzip image.
func imageName(rel *rollout.Release, art *rollout.Artifact, suffix string) string {
	name := rel.Platform + "-" + rel.Version.String() + suffix + ".bin"
	switch art.Encoding {
	case rollout.Gzip:
		name += ".gz"
	case rollout.Zlib:
		name += ".zz"
	}
	return name
}

// statusRecorder remembers the status written through it and counts the
// body bytes written. It forwards ReadFrom so that sending a file still
// uses sendfile.
type statusRecorder struct {
	http.ResponseWriter
	status  int
	written int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.written += int64(n)
	return n, err
}

func (s *statusRecorder) ReadFrom(src io.Reader) (int64, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := io.Copy(s.ResponseWriter, src)
	s.written += n
	return n, err
}
