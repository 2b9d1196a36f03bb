package httpapi

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/rollout"
)

// The FUOTA two-step (PascalBod/esp32-fuota, docker-fuota-server), over
// HTTPS with basic auth in that app:
//
//  1. GET /devices/ID?app_ver=VERSION. ID is the device's name or its MAC
//     in any form. 200 with a text/csv body holding the path to fetch,
//     204 nothing to do, 400 a request it cannot read, 403 no valid
//     credentials, 404 an unknown device.
//  2. GET /files/PATH, PATH being that body: MAC/FROM/PLATFORM-VERSION.bin.
//     The download is decided again from what the path says (the device,
//     the version it reported) and served only when that decision offers
//     exactly the release named: no path gets another device's or another
//     release's image. 404 otherwise, as the app expects for a file that
//     is not there.
//
// The app copies the 200 body, Content-Length bytes of it, into a 256-byte
// buffer and appends it to "/files/" as it is: the path must be shorter
// than that and need no escaping.

// fuotaPathMax is the longest body the app takes (UPDATE_FILE_PATH_MAX_LENGTH).
const fuotaPathMax = 255

// fuotaVersionMax bounds the version a device reports, which its file path
// then carries.
const fuotaVersionMax = 64

var textCSV = []string{"text/csv"}

// fuotaCheck answers GET /devices/{id}?app_ver=.
func (a *API) fuotaCheck(w http.ResponseWriter, r *http.Request) { a.serveDevice(w, r, fuotaCheck{}) }

type fuotaCheck struct{}

func (fuotaCheck) client() string { return clientFUOTA }

func (fuotaCheck) identify(a *API, c *deviceCall) *refusal {
	id := mux.Vars(c.r)["id"]
	c.dr.mac = id
	dev := c.snap.Fleet.LookupDevice(id)
	if dev == nil {
		return &refusal{status: http.StatusNotFound, reason: "unknown device " + quoteShort(id)}
	}
	ver := queryValue(c.r.URL.RawQuery, "app_ver")
	c.dr.version, c.dr.dev = ver, dev.Platform
	switch {
	case ver == "":
		return &refusal{status: http.StatusBadRequest, reason: "missing app_ver: the version the device runs"}
	case len(ver) > fuotaVersionMax:
		return &refusal{status: http.StatusBadRequest, reason: "app_ver is too long"}
	}
	c.req = rollout.Request{MAC: dev.MAC, Version: ver}
	c.named, c.reported, c.decide = true, ver, true
	return nil
}

// answer gives the path of the image on offer, or 204.
func (fuotaCheck) answer(a *API, c *deviceCall) int {
	dec := &c.dec
	switch dec.Outcome {
	case rollout.Update:
		path := fuotaPath(dec)
		if len(path) > fuotaPathMax {
			a.log.Error("FUOTA file path too long for the device", "path", path)
			writeText(c.w, http.StatusInternalServerError, "file path too long")
			return http.StatusInternalServerError
		}
		// Exactly the path: the app appends the body to "/files/" as it
		// is, so no newline, and no parameters on the Content-Type.
		writeBody(c.w, http.StatusOK, textCSV, []byte(path))
		return http.StatusOK
	case rollout.UpToDate:
		c.note = dec.Reason()
		c.w.Header()["Cache-Control"] = noStore
		c.w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent
	}
	rf := fuotaRefusal(refuseDecision(dec))
	writeText(c.w, rf.status, rf.reason)
	c.note = rf.reason
	return rf.status
}

func (fuotaCheck) refuse(c *deviceCall, rf refusal) {
	rf = fuotaRefusal(rf)
	writeText(c.w, rf.status, rf.reason)
}

// fuotaRefusal maps a refusal to the FUOTA contract: credentials that do
// not do are 403 (not 401), a device the decision does not know 404.
func fuotaRefusal(rf refusal) refusal {
	switch {
	case rf.auth:
		rf.status = http.StatusForbidden
	case rf.status == http.StatusForbidden:
		// Found by its id but not on its platform's list: not a device
		// this server updates.
		rf.status = http.StatusNotFound
	}
	return rf
}

// fuotaPath is the file path of the image dec offers: the device's MAC,
// the version it reported and the file, MAC/FROM/PLATFORM-VERSION.bin.
func fuotaPath(dec *rollout.Decision) string {
	return macPath(dec.Device.MAC) + "/" + fromOf(dec) + "/" + catalogName(dec.Release)
}

// fuotaFile answers GET /files/{mac}/{from}/{file}.
func (a *API) fuotaFile(w http.ResponseWriter, r *http.Request) { a.serveDevice(w, r, fuotaFile{}) }

type fuotaFile struct{}

func (fuotaFile) client() string { return clientFUOTA }

func (fuotaFile) identify(a *API, c *deviceCall) *refusal {
	vars := mux.Vars(c.r)
	f := c.snap.Fleet
	c.dr.mac = vars["mac"]
	mac, err := rollout.ParseMAC(vars["mac"])
	dev := f.Device(mac)
	if err != nil || dev == nil {
		return &refusal{status: http.StatusNotFound, reason: "no such file: unknown device " + quoteShort(vars["mac"])}
	}
	name, ver, ok := parseCatalogName(vars["file"])
	if !ok || !strings.EqualFold(name, dev.Platform) {
		return &refusal{status: http.StatusNotFound, reason: "no such file: " + quoteShort(vars["file"])}
	}
	d, rf := readDownload(f, dev.Platform, vars["mac"], vars["from"], ver+".bin")
	if rf != nil {
		return rf
	}
	c.dr.dev, c.dr.version = dev.Platform, d.from
	c.req = d.request()
	// The version was reported by the check before: this download reports
	// none, so it does not count twice.
	c.named, c.decide = true, true
	return nil
}

func (fuotaFile) answer(a *API, c *deviceCall) int {
	dec := &c.dec
	if dec.Outcome == rollout.Update {
		c.offering = dec.Release.Version.Original()
		status, _ := a.serveImage(c.w, c.r, dec.Release, &dec.Release.Artifact, catalogName(dec.Release))
		return status
	}
	c.note = "not offered: " + dec.Reason()
	writeText(c.w, http.StatusNotFound, "no such file: not an update for this device now")
	return http.StatusNotFound
}

func (fuotaFile) refuse(c *deviceCall, rf refusal) { fuotaCheck{}.refuse(c, rf) }
