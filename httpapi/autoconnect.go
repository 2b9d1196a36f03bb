package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/rollout"
)

// AutoConnect's update menu (Hieromon/AutoConnect, AutoConnectUpdate):
//
//  1. The device asks GET /_catalog?op=list&path=PATH, PATH being the
//     AutoConnectUpdate's uri ("." by default), with no device headers,
//     and shows its user the "bin" entries of the JSON array it gets.
//  2. The entry picked is fetched through HTTPUpdate, with the x-ESP*
//     headers of /update but no version: GET /NAME for path ".", else
//     GET PATH/NAME.
//
// PATH names a platform: "/smart-lamp" lists smart-lamp's releases,
// "." those of every platform of the asking chip family (the catalog
// request says only that, in its User-Agent). The list is
// rollout.Platform.Catalog, the same for every device; a pick is served
// only when it is what the device is offered (rollout.Request.Want), so
// a user's choice obeys every rollout rule, and otherwise gets 304 (the
// device shows "No available update").

// catalogEntryMax is the room AutoConnect parses each catalog entry in:
// a StaticJsonDocument of AUTOCONNECT_UPDATE_CATALOG_JSONBUFFER_SIZE
// (256) bytes, filled from the stream one object at a time.
const catalogEntryMax = 256

// catalogEntry is one object of the catalog, with the keys AutoConnect
// reads: it shows name, date, time (its first five characters) and size
// of the entries whose type is "bin".
type catalogEntry struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Date string `json:"date"`
	Time string `json:"time"`
	Size int64  `json:"size"`
}

// arduinoJSONSize is the memory ArduinoJson 6 on a 32-bit chip takes for
// e parsed from a stream: a 16-byte slot per member, and every key and
// string value copied with its terminating NUL.
func (e *catalogEntry) arduinoJSONSize() int {
	const slot, members = 16, 5
	n := slot * members
	for _, s := range [...]string{"name", e.Name, "type", e.Type, "date", e.Date, "time", e.Time, "size"} {
		n += len(s) + 1
	}
	return n
}

// autoConnectCatalog answers GET /_catalog?op=list&path=PATH.
func (a *API) autoConnectCatalog(w http.ResponseWriter, r *http.Request) {
	a.serveDevice(w, r, autoConnectCatalog{})
}

type autoConnectCatalog struct{}

func (autoConnectCatalog) client() string { return clientAutoConnect }

func (autoConnectCatalog) identify(a *API, c *deviceCall) *refusal {
	q := c.r.URL.RawQuery
	if op := queryValue(q, "op"); op != "list" {
		return &refusal{status: http.StatusForbidden, reason: "op must be list, not " + quoteShort(op)}
	}
	path := queryValue(q, "path")
	if path == "." || path == "" {
		return nil
	}
	name, ok := strings.CutPrefix(path, "/")
	if !ok || name == "" || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		return &refusal{status: http.StatusForbidden, reason: "path must be \".\" or /<platform>, not " + quoteShort(path)}
	}
	if c.snap.Fleet.Platform(name) == nil {
		return &refusal{status: http.StatusNotFound, reason: "unknown platform " + quoteShort(name)}
	}
	c.dr.dev = name
	return nil
}

// answer lists the releases of the platform the path names, or of every
// platform of the asking chip family.
func (autoConnectCatalog) answer(a *API, c *deviceCall) int {
	f := c.snap.Fleet
	var platforms []*rollout.Platform
	if c.dr.dev != "" {
		platforms = []*rollout.Platform{f.Platform(c.dr.dev)}
	} else {
		family := catalogFamily(c.r.Header.Get("User-Agent"))
		for _, p := range f.Platforms() {
			if family == nil || family(espimage.Chip(p.Chip)) {
				platforms = append(platforms, p)
			}
		}
	}
	entries := make([]catalogEntry, 0, 8)
	for _, p := range platforms {
		for _, rel := range p.Catalog(c.start, a.halts) {
			e := catalogEntry{Name: catalogName(rel), Type: "bin", Size: rel.Artifact.Size}
			at := rel.IntroducedAt
			if at.IsZero() {
				at = c.snap.CommitTime
			}
			if !at.IsZero() {
				at = at.UTC()
				e.Date, e.Time = at.Format(time.DateOnly), at.Format(time.TimeOnly)
			}
			if e.arduinoJSONSize() > catalogEntryMax {
				// The device could not parse it, and would then drop the
				// rest of the list.
				a.log.Warn("release left out of the AutoConnect catalog: its entry is too long for the device to parse",
					"platform", p.Name, "version", rel.Version.String())
				continue
			}
			entries = append(entries, e)
		}
	}
	body, err := json.Marshal(entries)
	if err != nil {
		writeText(c.w, http.StatusInternalServerError, "cannot write the catalog")
		return http.StatusInternalServerError
	}
	writeBody(c.w, http.StatusOK, applicationJSON, body)
	return http.StatusOK
}

func (autoConnectCatalog) refuse(c *deviceCall, rf refusal) { updateClient{}.refuse(c, rf) }

var applicationJSON = []string{"application/json"}

// catalogFamily returns which chips the asking device can run, from its
// HTTP client's User-Agent; nil when it does not say.
func catalogFamily(userAgent string) func(espimage.Chip) bool {
	switch {
	case strings.HasPrefix(userAgent, "ESP8266"):
		return func(c espimage.Chip) bool { return c == espimage.ESP8266 }
	case strings.HasPrefix(userAgent, "ESP32"):
		return espimage.Chip.ESP32Family
	}
	return nil
}

// catalogName is the file name of a release in the catalog:
// PLATFORM-VERSION.bin, which names it across platforms too.
func catalogName(rel *rollout.Release) string {
	return rel.Platform + "-" + rollout.VersionKey(rel.Version) + ".bin"
}

// parseCatalogName reads PLATFORM-VERSION.bin back. Platform names have
// no '.', and a version's first '.' comes before any '-' of a
// pre-release, so the platform ends at the last '-' before the first '.'.
func parseCatalogName(name string) (platform, version string, ok bool) {
	base, ok := strings.CutSuffix(name, ".bin")
	dot := strings.IndexByte(base, '.')
	if !ok || dot < 0 {
		return "", "", false
	}
	dash := strings.LastIndexByte(base[:dot], '-')
	if dash <= 0 {
		return "", "", false
	}
	return base[:dash], base[dash+1:], true
}

// autoConnectDownload answers the picked file, GET /NAME or GET
// /PLATFORM/NAME, which AutoConnect fetches with HTTPUpdate.
func (a *API) autoConnectDownload(w http.ResponseWriter, r *http.Request) {
	a.serveDevice(w, r, autoConnectDownload{})
}

type autoConnectDownload struct{}

func (autoConnectDownload) client() string { return clientAutoConnect }

func (autoConnectDownload) identify(a *API, c *deviceCall) *refusal {
	vars := mux.Vars(c.r)
	file := vars["file"]
	name, ver, ok := parseCatalogName(file)
	if dir := vars["platform"]; dir != "" && !strings.EqualFold(dir, name) {
		ok = false
	}
	p := c.snap.Fleet.Platform(name)
	var want *rollout.Release
	if ok && p != nil {
		if v, err := rollout.ParseReleaseVersion(ver); err == nil {
			want = p.Release(v)
		}
	}
	if want == nil {
		return &refusal{status: http.StatusNotFound, reason: "no such file: " + quoteShort(file)}
	}
	c.dr = readDeviceRequest(c.r)
	dr := &c.dr
	dr.dev = p.Name
	if dr.mac == "" {
		return &refusal{status: http.StatusBadRequest, reason: "missing x-ESP8266-STA-MAC or x-ESP32-STA-MAC header: fetch it with the update client"}
	}
	mac, err := rollout.ParseMAC(dr.mac)
	if err != nil {
		return &refusal{status: http.StatusBadRequest, reason: "bad station MAC header: " + err.Error()}
	}
	version := dr.version
	if version == "" {
		version = a.assumedVersion(p, &mac, dr.md5)
	}
	c.req = rollout.Request{
		MAC: mac, Platform: p.Name, Version: version, Want: want.Version,
		SketchMD5: dr.md5, FreeSpace: freeSpace(dr.free), ChipSize: max(dr.chip, 0),
	}
	c.named, c.reported, c.decide = true, dr.version, true
	return nil
}

func (autoConnectDownload) answer(a *API, c *deviceCall) int {
	dec := &c.dec
	switch dec.Outcome {
	case rollout.Update:
		c.offering = dec.Release.Version.Original()
		status, _ := a.serveImage(c.w, c.r, dec.Release, &dec.Release.Artifact, mux.Vars(c.r)["file"])
		return status
	case rollout.UpToDate:
		c.note = dec.Reason()
		c.w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	rf := refuseDecision(dec)
	writeText(c.w, rf.status, rf.reason)
	c.note = rf.reason
	return rf.status
}

// refuse answers as /update does: AutoConnect's download is HTTPUpdate's.
func (autoConnectDownload) refuse(c *deviceCall, rf refusal) { updateClient{}.refuse(c, rf) }

// quoteShort quotes s for a reason text, cut to a length a log line
// holds: it comes from the request.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}
