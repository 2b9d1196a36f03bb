package httpapi

import (
	"net/http"

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

// serveFilesystem sends the filesystem image of the release c's decision
// offers (updateFS(), updateSpiffs()) and returns the status; when the
// whole image was sent, c.fsSent is its SHA-256, which the check-in
// remembers.
func (a *API) serveFilesystem(c *deviceCall) int {
	dec := &c.dec
	fs := dec.Served()
	c.deferCheckIn = true
	status, sent := a.serveImage(c.w, c.r, dec.Release, fs, imageName(dec.Release, fs, "-fs"))
	c.note = "filesystem image"
	if sent {
		c.fsSent = fs.SHA256
	}
	return status
}

// answerVersion answers ESP8266 getAvailableVersion() (core 3.2+), which
// takes any status but 200 for an error (a 304 is -104): 200 with
// x-version, the version the device should be running (see
// rollout.Decision.RunVersion), and no body.
func (a *API) answerVersion(c *deviceCall) int {
	h := c.w.Header()
	h["x-version"] = []string{c.dec.RunVersion()}
	h["Content-Length"] = zeroLength
	h["Cache-Control"] = noStore
	c.w.WriteHeader(http.StatusOK)
	c.note = "version query"
	return http.StatusOK
}
