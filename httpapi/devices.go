package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/rollout"
)

// deviceDoc is a device in the device API: its whitelist entry, what it
// last reported, its offers and outcomes, and what it would get now.
type deviceDoc struct {
	MAC         string            `json:"mac"`
	Whitelisted bool              `json:"whitelisted"`
	Config      *deviceConfig     `json:"config,omitempty"`
	Seen        bool              `json:"seen"`
	Summary     *checkin.Device   `json:"summary,omitempty"`
	CheckIns    []checkin.CheckIn `json:"checkins,omitempty"`
	Now         *decisionDoc      `json:"decision_now,omitempty"`
}

type deviceConfig struct {
	Platform string   `json:"platform"`
	Name     string   `json:"name,omitempty"`
	Channel  string   `json:"channel"`
	Groups   []string `json:"groups,omitempty"`
	Pin      string   `json:"pin,omitempty"`
}

// decisionDoc is the decision the server would make for a device now.
type decisionDoc struct {
	Outcome string `json:"outcome"`
	Why     string `json:"why"`
	Reason  string `json:"reason"`
	Offered string `json:"offered,omitempty"`
	Held    string `json:"held,omitempty"`
	// Status is the HTTP status the device would get.
	// 0 (left out) when nothing is decided.
	Status int `json:"status,omitempty"`
	// Assumes says what the decision assumes about the device.
	Assumes string `json:"assumes"`
}

// apiDevices answers GET /api/devices?platform=&version=&outcome=&limit=
// &after= (or &page=): devices that checked in, with their summaries, one
// page in MAC order. next is the after cursor of the following page, ""
// on the last one.
func (a *API) apiDevices(w http.ResponseWriter, r *http.Request) {
	if a.devices == nil {
		writeJSON(w, http.StatusNotFound, errorDoc("device check-ins are not recorded by this server"))
		return
	}
	q := r.URL.Query()
	f := checkin.Filter{Platform: q.Get("platform"), Version: q.Get("version"), Outcome: q.Get("outcome")}
	switch f.Outcome {
	case "", "success", "failure", "pending", "none":
	default:
		writeJSON(w, http.StatusBadRequest, errorDoc("outcome must be success, failure, pending or none"))
		return
	}
	limit, page := 100, 1
	for _, p := range []struct {
		name string
		to   *int
	}{{"limit", &limit}, {"page", &page}} {
		if s := q.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				writeJSON(w, http.StatusBadRequest, errorDoc(p.name+" must be a positive integer"))
				return
			}
			*p.to = n
		}
	}
	limit = min(limit, maxDevicePage)
	if s := q.Get("after"); s != "" {
		if q.Has("page") {
			writeJSON(w, http.StatusBadRequest, errorDoc("use after or page, not both"))
			return
		}
		mac, err := rollout.ParseMAC(s)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorDoc("after: "+err.Error()))
			return
		}
		f.After = &mac
	}
	// One more than the page tells whether another page follows.
	devs, total := a.devices.Page(f, (page-1)*limit, limit+1)
	doc := struct {
		Total   int              `json:"total"`
		Limit   int              `json:"limit"`
		Devices []checkin.Device `json:"devices"`
		Next    string           `json:"next,omitempty"`
	}{Total: total, Limit: limit, Devices: devs}
	if len(devs) > limit {
		doc.Devices = devs[:limit]
		doc.Next = devs[limit-1].MAC.String()
	}
	if doc.Devices == nil {
		doc.Devices = []checkin.Device{}
	}
	writeJSON(w, http.StatusOK, doc)
}

// maxDevicePage is the largest page /api/devices answers, so that one
// request costs a bounded response.
const maxDevicePage = 10000

// apiDevice answers GET /api/devices/{mac}: configuration, last check-ins
// and the decision the server would make now, with the reason.
func (a *API) apiDevice(w http.ResponseWriter, r *http.Request) {
	mac, err := rollout.ParseMAC(mux.Vars(r)["mac"])
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorDoc(err.Error()))
		return
	}
	doc := deviceDoc{MAC: mac.String()}
	snap := a.snaps.Current()
	var dev *rollout.Device
	if snap != nil {
		dev = snap.Fleet.Device(mac)
	}
	if dev != nil {
		doc.Whitelisted = true
		doc.Config = &deviceConfig{Platform: dev.Platform, Name: dev.Name, Channel: dev.Channel.String(), Groups: dev.Groups}
		if dev.Pin != nil {
			doc.Config.Pin = dev.Pin.String()
		}
	}
	var last *checkin.CheckIn
	if a.devices != nil {
		if sum, ok := a.devices.Device(mac); ok {
			doc.Seen, doc.Summary = true, &sum
		}
		hist, err := a.devices.History(r.Context(), mac, 20)
		if err != nil {
			a.log.Error("device history", "mac", mac.String(), "err", err)
		}
		doc.CheckIns = hist
		if len(hist) > 0 {
			last = &hist[0]
		}
	}
	if !doc.Whitelisted && !doc.Seen {
		writeJSON(w, http.StatusNotFound, errorDoc("device "+mac.String()+" is not whitelisted and has not checked in"))
		return
	}
	if snap != nil && dev != nil {
		doc.Now = a.decideNow(snap.Fleet, dev, doc.Summary, last)
	}
	writeJSON(w, http.StatusOK, doc)
}

// decideNow is the decision the server would make for a device now (see
// checkin.DecideNow), as the device API shows it.
func (a *API) decideNow(f *rollout.Fleet, dev *rollout.Device, sum *checkin.Device, last *checkin.CheckIn) *decisionDoc {
	dec := checkin.DecideNow(f, dev, sum, last, a.now(), a.halts)
	if !dec.Known {
		return &decisionDoc{Outcome: "unknown", Why: "unknown_version", Reason: "unknown version", Assumes: dec.Assumes}
	}
	doc := &decisionDoc{Outcome: dec.Outcome.String(), Why: dec.Why.String(), Reason: dec.Reason(), Status: statusOf(dec.Outcome), Assumes: dec.Assumes}
	if dec.Outcome == rollout.Update {
		doc.Offered = dec.Release.Version.String()
	}
	if dec.Held != nil {
		doc.Held = dec.Held.Version.String()
	}
	return doc
}

// statusOf is the HTTP status /update answers an outcome with.
func statusOf(o rollout.Outcome) int {
	switch o {
	case rollout.Update:
		return http.StatusOK
	case rollout.UpToDate:
		return http.StatusNotModified
	case rollout.NotWhitelisted:
		return http.StatusForbidden
	case rollout.UnknownPlatform:
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// releaseDetail is GET /api/releases/{platform}/{version}.
type releaseDetail struct {
	Platform     string     `json:"platform"`
	Version      string     `json:"version"`
	Channel      string     `json:"channel"`
	Groups       []string   `json:"groups,omitempty"`
	From         string     `json:"from,omitempty"`
	Yanked       bool       `json:"yanked"`
	Paused       bool       `json:"paused"`
	File         string     `json:"file,omitempty"`
	GitHub       *githubDoc `json:"github_asset,omitempty"`
	Size         int64      `json:"size"`
	SHA256       string     `json:"sha256"`
	IntroducedAt time.Time  `json:"introduced_at,omitzero"`
	IntroducedIn string     `json:"introduced_in,omitempty"`
	Stages       []stageDoc `json:"stages,omitempty"`
	// Stage is the stage in force, numbered from 1 (0: no stages).
	Stage     int                   `json:"stage"`
	Percent   float64               `json:"percent"`
	NextStage time.Time             `json:"next_stage_at,omitzero"`
	HaltOn    float64               `json:"halt_on_failure_percent,omitempty"`
	HaltMin   int                   `json:"halt_min_devices,omitempty"`
	Halted    bool                  `json:"halted"`
	Halt      *checkin.Halt         `json:"halt,omitempty"`
	Counts    []rollout.StageCounts `json:"counts"`
	Totals    rollout.StageCounts   `json:"totals"`
}

type stageDoc struct {
	Percent float64   `json:"percent"`
	After   string    `json:"after"`
	Starts  time.Time `json:"starts,omitzero"`
}

// apiRelease answers GET /api/releases/{platform}/{version}: the
// release's rules, its stage now, and the devices offered, succeeded and
// failed per stage; halted or not.
func (a *API) apiRelease(w http.ResponseWriter, r *http.Request) {
	snap := a.snaps.Current()
	if snap == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorDoc("no config loaded yet"))
		return
	}
	p, rel, status, msg := findRelease(snap.Fleet, mux.Vars(r))
	if rel == nil {
		writeJSON(w, status, errorDoc(msg))
		return
	}
	now := a.now()
	d := releaseDetail{
		Platform: p.Name, Version: rel.Version.String(), Channel: rel.Channel.String(), Groups: rel.Groups,
		Yanked: rel.Yanked, Paused: rel.Paused, File: rel.Artifact.Source.Path, GitHub: githubDocOf(rel.Artifact.Source), Size: rel.Artifact.Size, SHA256: rel.Artifact.SHA256,
		IntroducedAt: rel.IntroducedAt, IntroducedIn: rel.IntroducedIn, HaltOn: rel.HaltOnFailure * 100,
		NextStage: rel.NextStage(now), Counts: []rollout.StageCounts{},
	}
	if rel.HaltOnFailure > 0 {
		d.HaltMin = rel.HaltMinDevices
	}
	if rel.From != nil {
		d.From = rel.From.String()
	}
	d.Stage, d.Percent = rel.StageAt(now)
	d.Stage = rollout.StageNumber(d.Stage)
	for _, s := range rel.Stages {
		sd := stageDoc{Percent: s.Percent, After: s.After.String()}
		if !rel.IntroducedAt.IsZero() {
			sd.Starts = rel.IntroducedAt.Add(s.After)
		}
		d.Stages = append(d.Stages, sd)
	}
	if a.halts != nil {
		d.Halted = a.halts.Halted(rel)
	}
	if a.releases != nil {
		for _, h := range a.releases.Halts() {
			if h.Release() == rel.ID() && h.Fingerprint == rel.Fingerprint {
				h := h
				d.Halt = &h
			}
		}
		d.Counts = a.releases.ReleaseStats(rel.ID())
		if d.Counts == nil {
			d.Counts = []rollout.StageCounts{}
		}
		d.Totals.Stage = -1
		for _, c := range d.Counts {
			d.Totals.Offered += c.Offered
			d.Totals.Succeeded += c.Succeeded
			d.Totals.Failed += c.Failed
		}
	}
	writeJSON(w, http.StatusOK, d)
}

// apiResume answers POST /api/releases/{platform}/{version}/resume: an
// operator lifts an automatic halt. Register puts the admin rule in
// front of it.
func (a *API) apiResume(w http.ResponseWriter, r *http.Request) {
	if a.resumer == nil {
		writeJSON(w, http.StatusNotFound, errorDoc("device check-ins are not recorded by this server"))
		return
	}
	snap := a.snaps.Current()
	if snap == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorDoc("no config loaded yet"))
		return
	}
	_, rel, status, msg := findRelease(snap.Fleet, mux.Vars(r))
	if rel == nil {
		writeJSON(w, status, errorDoc(msg))
		return
	}
	id := rel.ID()
	if err := a.resumer.Resume(id, a.now()); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, checkin.ErrNotHalted) {
			status = http.StatusConflict
		}
		writeJSON(w, status, errorDoc(err.Error()))
		return
	}
	a.log.Warn("release resumed", "release", id.String(), "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]string{"status": "resumed", "release": id.String()})
}

// findRelease finds the release the {platform} and {version} of a release
// URL name in f; {version} may be written as devices report it (v1.5.0,
// 1.5). Without one it returns the status to answer (404 for an unknown
// platform or release, 400 for an unreadable version) and why.
func findRelease(f *rollout.Fleet, vars map[string]string) (*rollout.Platform, *rollout.Release, int, string) {
	p := f.Platform(vars["platform"])
	if p == nil {
		return nil, nil, http.StatusNotFound, "unknown platform " + strconv.Quote(vars["platform"])
	}
	v, err := rollout.ParseDeviceVersion(vars["version"])
	if err != nil {
		return p, nil, http.StatusBadRequest, err.Error()
	}
	rel := p.Release(v)
	if rel == nil {
		return p, nil, http.StatusNotFound, "platform " + p.Name + " has no release " + v.String()
	}
	return p, rel, 0, ""
}

func errorDoc(msg string) map[string]string { return map[string]string{"error": msg} }
