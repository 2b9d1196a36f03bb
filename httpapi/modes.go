package httpapi

import (
	"net/http"
	"time"

	"github.com/otagit/otagit/rollout"
)

// The answers to the requests that do not ask for the application image
// (x-ESP8266-mode / x-ESP32-mode): filesystem images and version queries.
// Both are decided by rollout.Decide like any /update request.

var zeroLength = []string{"0"}

// filesystemTaken returns the SHA-256 of the last filesystem image sent in
// full to the device with mac, for a filesystem request; "" for other
// modes, or when no check-ins are recorded (then nothing is remembered
// and a filesystem is sent whenever the app update is on offer).
func (a *API) filesystemTaken(mode rollout.Mode, mac rollout.MAC) string {
	if mode != rollout.ModeFilesystem || a.fsRecords == nil {
		return ""
	}
	fs, ok := a.fsRecords.FilesystemSent(mac)
	if !ok {
		return ""
	}
	return fs.SHA256
}

// serveFilesystem sends the filesystem image of the release dec offers
// (updateFS(), updateSpiffs()) and returns the status and, when the whole
// image was sent, its SHA-256, which the check-in remembers.
func (a *API) serveFilesystem(w http.ResponseWriter, r *http.Request, dr deviceRequest, dec *rollout.Decision, start time.Time) (int, string) {
	fs := dec.Served()
	status, sent := a.serveImage(w, r, dec.Release, fs, imageName(dec.Release, fs, "-fs"))
	a.logRequest(r, dr, dec, status, "filesystem image", start)
	if !sent {
		return status, ""
	}
	return status, fs.SHA256
}

// answerVersion answers ESP8266 getAvailableVersion() (core 3.2+), which
// takes any status but 200 for an error (a 304 is -104): 200 with
// x-version, the version the device should be running (see
// rollout.Decision.RunVersion), and no body.
func (a *API) answerVersion(w http.ResponseWriter, r *http.Request, dr deviceRequest, dec *rollout.Decision, start time.Time) int {
	h := w.Header()
	h["x-version"] = []string{dec.RunVersion()}
	h["Content-Length"] = zeroLength
	h["Cache-Control"] = noStore
	w.WriteHeader(http.StatusOK)
	a.logRequest(r, dr, dec, http.StatusOK, "version query", start)
	return http.StatusOK
}
