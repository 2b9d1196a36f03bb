package httpapi

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/gorilla/mux"

	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/rollout"
)

// The clients that fetch a JSON manifest and then the image it names:
// esp32FOTA (GET /fota/PLATFORM.json?id=EFUSE) and ESPHome's http_request
// update (GET /esphome/PLATFORM.json?id=MAC-OR-NAME). Neither sends a
// version header; a URL may carry ver=VERSION (the sketch or YAML knows
// its own version), and without it the request is decided from the
// version the device last reported, or rollout.NoRelease. Without an id
// the request is anonymous, answered only for a platform that allows it.
// The manifest names the release the decision offers, or the one the
// device is on, and points at a per-device download URL (downloadPath)
// that is decided again when fetched.

// esp32FOTA reads the manifest into a DynamicJsonDocument of
// JSON_FW_BUFF_SIZE (2048) bytes.
const fotaManifestMax = 2048

// fotaManifest is an esp32FOTA manifest: one object, whose type esp32FOTA
// compares with the firmware name the sketch gives (exactly) and whose
// version it compares with its own (an update only when newer). It reads
// url, or host, port (a number) and bin.
//
// A release with a filesystem image is written in the host/port/bin form
// with spiffs, the only one in which esp32FOTA takes a filesystem image
// too (it flashes it to the data partition, SPIFFS or LittleFS alike,
// before the app).
type fotaManifest struct {
	Type    string `json:"type"`
	Version string `json:"version"`
	URL     string `json:"url,omitempty"`
	Host    string `json:"host,omitempty"`
	Port    int    `json:"port,omitempty"`
	Bin     string `json:"bin,omitempty"`
	SPIFFS  string `json:"spiffs,omitempty"`
}

// arduinoJSONSize is the memory ArduinoJson 6 on a 32-bit chip takes for
// m parsed from a stream (see catalogEntry.arduinoJSONSize).
func (m *fotaManifest) arduinoJSONSize() int {
	n := 0
	for _, kv := range [...][2]string{{"type", m.Type}, {"version", m.Version}, {"url", m.URL}, {"host", m.Host}, {"bin", m.Bin}, {"spiffs", m.SPIFFS}} {
		if kv[1] != "" || kv[0] == "type" || kv[0] == "version" {
			n += 16 + len(kv[0]) + 1 + len(kv[1]) + 1
		}
	}
	if m.Port != 0 {
		n += 16 + len("port") + 1
	}
	return n
}

// esp32FOTAManifest answers GET /fota/{platform}.json.
func (a *API) esp32FOTAManifest(w http.ResponseWriter, r *http.Request) {
	a.serveDevice(w, r, manifestClient{name: clientESP32FOTA})
}

// esphomeManifest answers GET /esphome/{platform}.json.
func (a *API) esphomeManifest(w http.ResponseWriter, r *http.Request) {
	a.serveDevice(w, r, manifestClient{name: clientESPHome})
}

// manifestClient is the manifest request of esp32FOTA or ESPHome.
type manifestClient struct{ name string }

func (m manifestClient) client() string { return m.name }

func (m manifestClient) identify(a *API, c *deviceCall) *refusal {
	platform := mux.Vars(c.r)["platform"]
	p := c.snap.Fleet.Platform(platform)
	if p == nil {
		return &refusal{status: http.StatusNotFound, reason: "unknown platform " + quoteShort(platform)}
	}
	q := c.r.URL.RawQuery
	id, ver := queryValue(q, "id"), queryValue(q, "ver")
	c.dr.dev, c.dr.version = p.Name, ver
	c.req = rollout.Request{Platform: p.Name, Version: ver}
	c.reported, c.decide = ver, true
	if id == "" {
		c.req.Anonymous = true
		if ver == "" {
			c.req.Version = rollout.NoRelease
		}
		return nil
	}
	mac, rf := m.device(c.snap.Fleet, id)
	if rf != nil {
		return rf
	}
	c.req.MAC, c.dr.mac, c.named = mac, mac.String(), true
	if ver == "" {
		c.req.Version = a.assumedVersion(p, &mac, "")
	}
	return nil
}

// device reads the id of a manifest URL: for esp32FOTA the decimal of
// ESP.getEfuseMac(), for ESPHome a MAC in any form or a device's name.
func (m manifestClient) device(f *rollout.Fleet, id string) (rollout.MAC, *refusal) {
	if m.name == clientESP32FOTA {
		mac, err := rollout.ParseEfuseID(id)
		if err != nil {
			return mac, &refusal{status: http.StatusBadRequest, reason: err.Error()}
		}
		return mac, nil
	}
	if mac, err := rollout.ParseMAC(id); err == nil {
		return mac, nil
	}
	if d := f.DeviceNamed(id); d != nil {
		return d.MAC, nil
	}
	return rollout.MAC{}, &refusal{status: http.StatusForbidden, reason: "no whitelisted device is named " + quoteShort(id)}
}

func (m manifestClient) answer(a *API, c *deviceCall) int {
	dec := &c.dec
	if dec.Outcome != rollout.Update && dec.Outcome != rollout.UpToDate {
		rf := refuseDecision(dec)
		m.refuse(c, rf)
		c.note = rf.reason
		return rf.status
	}
	var body []byte
	var err error
	if m.name == clientESP32FOTA {
		body, err = a.fotaManifest(c)
	} else {
		body, err = json.Marshal(esphomeManifestOf(c))
	}
	if err != nil {
		a.log.Error("cannot write a manifest", "client", m.name, "platform", dec.Platform.Name, "err", err)
		writeText(c.w, http.StatusInternalServerError, "cannot write the manifest")
		return http.StatusInternalServerError
	}
	writeBody(c.w, http.StatusOK, applicationJSON, body)
	return http.StatusOK
}

func (m manifestClient) refuse(c *deviceCall, rf refusal) { updateClient{}.refuse(c, rf) }

// fotaManifest writes the esp32FOTA manifest of c's decision: the release
// offered, or else the one the device is on (not newer than what it runs,
// so it stays), each as the plain version esp32FOTA reads. A release it
// cannot read (a pre-release) is never offered: esp32FOTA would take it
// for 0.0.0. With no release to name, the version is 0.0.0, which is
// never newer.
func (a *API) fotaManifest(c *deviceCall) ([]byte, error) {
	dec := &c.dec
	m := fotaManifest{Type: dec.Platform.Name, Version: "0.0.0"}
	rel := dec.Release
	if _, plain := rollout.PlainVersion(releaseVersion(rel)); rel != nil && !plain {
		if dec.Outcome == rollout.Update {
			c.note = rel.Version.String() + " not offered: esp32FOTA reads a pre-release version as 0.0.0"
		}
		rel = nil
	}
	if rel != nil {
		m.Version, _ = rollout.PlainVersion(rel.Version)
		device, from := deviceOf(c.req), fromOf(dec)
		host, port, ok := fotaHostPort(c.r)
		switch {
		case rel.Filesystem != nil && ok:
			m.Host, m.Port = host, port
			m.Bin = downloadPath("fota", rel, false, device, from)
			m.SPIFFS = downloadPath("fota", rel, true, device, from)
		case rel.Filesystem != nil:
			c.note = "filesystem image left out: esp32FOTA's host/port form uses https on ports 443 and 4433 only, and this request came over " + origin(c.r)
			fallthrough
		default:
			m.URL = origin(c.r) + downloadPath("fota", rel, false, device, from)
		}
	}
	body, err := json.Marshal(m)
	switch {
	case err != nil:
		return nil, err
	case len(body) > fotaManifestMax || m.arduinoJSONSize() > fotaManifestMax:
		return nil, errManifestTooLong
	}
	return body, nil
}

// fotaHostPort returns the host and port of the request for esp32FOTA's
// host/port/bin form, which makes the URL https exactly when the port is
// 443 or 4433; ok is false when that cannot say how the request came
// (https on another port, or http on one of those).
func fotaHostPort(r *http.Request) (host string, port int, ok bool) {
	hp := requestHost(r)
	h, ps, err := net.SplitHostPort(hp)
	if err != nil {
		h, ps = hp, "80"
		if r.TLS != nil {
			ps = "443"
		}
	}
	port, err = strconv.Atoi(ps)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, false
	}
	tlsPort := port == 443 || port == 4433
	return strings.Trim(h, "[]"), port, tlsPort == (r.TLS != nil)
}

var errManifestTooLong = errors.New("longer than the device's manifest buffer (2048 bytes)")

// releaseVersion is rel's version, nil for no release.
func releaseVersion(rel *rollout.Release) *semver.Version {
	if rel == nil {
		return nil
	}
	return rel.Version
}

// esphomeManifest is the manifest ESPHome's http_request update reads:
// name, version and builds are required; it takes the build whose
// chipFamily is its variant, and its ota path and md5 (also required).
// It offers an update whenever version differs from its own project
// version, as strings.
type esphomeManifest struct {
	Name    string         `json:"name"`
	Version string         `json:"version"`
	Builds  []esphomeBuild `json:"builds"`
}

type esphomeBuild struct {
	ChipFamily string     `json:"chipFamily"`
	OTA        esphomeOTA `json:"ota"`
}

type esphomeOTA struct {
	Path       string `json:"path"`
	MD5        string `json:"md5"`
	Summary    string `json:"summary,omitempty"`
	ReleaseURL string `json:"release_url,omitempty"`
}

// esphomeManifestOf is the ESPHome manifest of c's decision: the release
// offered, or else the one the device is on, whose version equals the
// device's own then, so it stays. ESPHome moves to any version that
// differs, older ones too: a rollback reaches it. With no release to
// name, the version is empty, which ESPHome reads as no update.
func esphomeManifestOf(c *deviceCall) esphomeManifest {
	dec := &c.dec
	p := dec.Platform
	name := p.Description
	if name == "" {
		name = p.Name
	}
	m := esphomeManifest{Name: name, Builds: []esphomeBuild{{ChipFamily: espimage.Chip(p.Chip).WebToolsFamily()}}}
	rel := dec.Release
	if rel == nil {
		return m
	}
	m.Version = versionAsReported(rel, c.reported, dec)
	path := downloadPath("esphome", rel, false, deviceOf(c.req), fromOf(dec))
	// ESPHome takes any path holding "http" for a full URL, and joins the
	// others to the manifest's host.
	if strings.Contains(path, "http") {
		path = origin(c.r) + path
	}
	m.Builds[0].OTA = esphomeOTA{Path: path, MD5: rel.Artifact.MD5, Summary: dec.Reason(), ReleaseURL: releaseURL(rel)}
	return m
}

// versionAsReported writes rel's version for a client that compares
// version strings with its own: as the device reported it when rel is
// what it runs, else in the device's style (with its leading "v"), else
// as the config writes it.
func versionAsReported(rel *rollout.Release, reported string, dec *rollout.Decision) string {
	if reported == "" {
		return rel.Version.Original()
	}
	if dec.Current != nil && rel.Version.Equal(dec.Current) {
		return reported
	}
	v := rollout.VersionKey(rel.Version)
	if t := strings.TrimSpace(reported); t != "" && (t[0] == 'v' || t[0] == 'V') {
		v = t[:1] + v
	}
	return v
}

// releaseURL is the GitHub page of a release taken from GitHub, "" for a
// committed binary.
func releaseURL(rel *rollout.Release) string {
	gh := rel.Artifact.Source.GitHub
	if gh == nil {
		return ""
	}
	return "https://github.com/" + gh.Repo + "/releases/tag/" + gh.Tag
}

// manifestDownload answers the per-device download URL of a manifest:
// GET /fota/... or /esphome/... (see downloadPath).
type manifestDownload struct{ name string }

func (a *API) esp32FOTADownload(w http.ResponseWriter, r *http.Request) {
	a.serveDevice(w, r, manifestDownload{name: clientESP32FOTA})
}

func (a *API) esphomeDownload(w http.ResponseWriter, r *http.Request) {
	a.serveDevice(w, r, manifestDownload{name: clientESPHome})
}

func (m manifestDownload) client() string { return m.name }

func (m manifestDownload) identify(a *API, c *deviceCall) *refusal {
	vars := mux.Vars(c.r)
	d, rf := readDownload(c.snap.Fleet, vars["platform"], vars["device"], vars["from"], vars["file"])
	if rf != nil {
		return rf
	}
	c.dr.dev, c.dr.version = d.platform.Name, d.from
	if !d.anyone {
		c.dr.mac, c.named = d.mac.String(), true
	}
	c.req = d.request()
	// The version was the manifest's to report: a download reports none.
	c.decide = true
	return nil
}

func (m manifestDownload) answer(a *API, c *deviceCall) int {
	dec := &c.dec
	switch dec.Outcome {
	case rollout.Update:
		if c.req.Mode == rollout.ModeFilesystem {
			return a.serveFilesystem(c)
		}
		c.offering = dec.Release.Version.Original()
		status, _ := a.serveImage(c.w, c.r, dec.Release, &dec.Release.Artifact, imageName(dec.Release, &dec.Release.Artifact, ""))
		return status
	case rollout.UpToDate:
	default:
		rf := refuseDecision(dec)
		m.refuse(c, rf)
		c.note = rf.reason
		return rf.status
	}
	c.note = "not offered: " + dec.Reason()
	writeText(c.w, http.StatusNotFound, "no such file: not an update for this device now")
	return http.StatusNotFound
}

func (m manifestDownload) refuse(c *deviceCall, rf refusal) { updateClient{}.refuse(c, rf) }
