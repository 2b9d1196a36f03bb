package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/otagit/otagit/checkin"
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
func (a *API) update(w http.ResponseWriter, r *http.Request) {
	start := a.now()
	dr := readDeviceRequest(r)
	snap := a.snaps.Current()
	if snap == nil {
		w.Header()["Retry-After"] = []string{"30"}
		a.refuse(w, r, dr, nil, http.StatusServiceUnavailable, "no config loaded yet", start)
		return
	}
	if dr.mac == "" {
		a.refuse(w, r, dr, nil, http.StatusBadRequest, "missing x-ESP8266-STA-MAC or x-ESP32-STA-MAC header", start)
		return
	}
	mac, err := rollout.ParseMAC(dr.mac)
	if err != nil {
		a.refuse(w, r, dr, nil, http.StatusBadRequest, "bad station MAC header: "+err.Error(), start)
		return
	}
	if dr.version == "" {
		a.refuse(w, r, dr, nil, http.StatusBadRequest, "missing version: add ?ver=<version> to the URL or pass the version to the update call", start)
		return
	}
	mode, _ := rollout.ParseMode(dr.mode)
	dec := rollout.Decide(snap.Fleet, rollout.Request{
		MAC: mac, Platform: dr.dev, Version: dr.version,
		SketchMD5: dr.md5, FreeSpace: freeSpace(dr.free), ChipSize: max(dr.chip, 0),
		Now: start, Mode: mode, FilesystemTaken: a.filesystemTaken(mode, mac),
	}, a.halts)
	status, offered, fsSent := 0, "", ""
	switch {
	case mode == rollout.ModeVersion && (dec.Outcome == rollout.Update || dec.Outcome == rollout.UpToDate):
		status = a.answerVersion(w, r, dr, &dec, start)
	case dec.Outcome == rollout.Update && mode == rollout.ModeFilesystem:
		status, fsSent = a.serveFilesystem(w, r, dr, &dec, start)
	case dec.Outcome == rollout.Update:
		status, _ = a.serveImage(w, r, dec.Release, &dec.Release.Artifact, imageName(dec.Release, &dec.Release.Artifact, ""))
		if status == http.StatusOK {
			// Offered even when the download is cut off: the device may
			// retry, or come back on its old version.
			offered = dec.Release.Version.Original()
		}
		a.logRequest(r, dr, &dec, status, "", start)
	case dec.Outcome == rollout.UpToDate:
		status = http.StatusNotModified
		w.WriteHeader(status)
		a.logRequest(r, dr, &dec, status, "", start)
	default:
		status = statusOf(dec.Outcome)
		a.refuse(w, r, dr, &dec, status, dec.Reason(), start)
	}
	// Only whitelisted devices are recorded: anyone can send any MAC, and
	// refused requests are in the log.
	if a.recorder != nil && r.Method == http.MethodGet && dec.Device != nil {
		platform := dr.dev
		if dec.Platform != nil {
			platform = dec.Platform.Name
		}
		a.recorder.Observe(checkin.CheckIn{
			MAC: mac, At: start, Platform: platform, Version: dr.version, SketchMD5: dr.md5,
			FreeSpace: dr.free, ChipSize: dr.chip, SDK: dr.sdk, Remote: r.RemoteAddr,
			Status: status, Decision: dec.Outcome.String(), Offered: offered,
			Mode: mode.String(), Filesystem: fsSent,
		}, dec)
	}
}

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
	f, err := os.Open(art.File)
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
	// ServeContent sets the exact Content-Length, answers HEAD and Range
	// requests, and lets the kernel send the file (sendfile).
	http.ServeContent(rec, r, "", time.Time{}, f)
	return rec.status, rec.status == http.StatusOK && rec.written == art.Size && r.Method == http.MethodGet
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

// refuse answers with an error status and a one-line text body.
func (a *API) refuse(w http.ResponseWriter, r *http.Request, dr deviceRequest, dec *rollout.Decision, status int, reason string, start time.Time) {
	h := w.Header()
	h["Content-Type"] = textPlain
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(status)
	io.WriteString(w, reason+"\n")
	a.logRequest(r, dr, dec, status, reason, start)
}

// logRequest writes the one log record every device request gets.
func (a *API) logRequest(r *http.Request, dr deviceRequest, dec *rollout.Decision, status int, reason string, start time.Time) {
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	ctx := context.Background()
	if !a.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("mac", dr.mac),
		slog.String("platform", dr.dev),
		slog.String("version", dr.version),
		slog.Int("status", status),
	)
	if dec != nil {
		if m := dec.Request.Mode; m != rollout.ModeSketch {
			attrs = append(attrs, slog.String("mode", m.String()))
		}
		attrs = append(attrs, slog.String("decision", dec.Outcome.String()))
		if dec.Platform != nil && dr.dev == "" {
			attrs[1] = slog.String("platform", dec.Platform.Name)
		}
		if dec.Outcome == rollout.Update {
			attrs = append(attrs, slog.String("offered", dec.Release.Version.String()))
		}
	}
	if reason != "" {
		attrs = append(attrs, slog.String("reason", reason))
	}
	attrs = append(attrs, slog.String("remote", r.RemoteAddr), slog.Duration("took", time.Since(start)))
	a.log.LogAttrs(ctx, level, "device request", attrs...)
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
