package dashboard

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/rollout"
)

// historyRows is how many check-ins the device page shows.
const historyRows = 20

type devicePage struct {
	base
	MAC string
	// Entry is the whitelist entry, nil when the device is not
	// whitelisted.
	Entry *rollout.Device
	Pin   string
	// Summary is what the tracker knows, nil if the device never checked
	// in (or check-ins are not recorded).
	Summary    *checkin.Device
	State      string
	StateClass string
	HasTracker bool
	// Decision is what the device would get now, nil when it is not
	// whitelisted or nothing is served.
	Decision   *decisionView
	CheckIns   []checkin.CheckIn
	HistoryErr string
}

type decisionView struct {
	// Answer is the answer in words, Class its kind for styling.
	Answer, Class   string
	Reason, Assumes string
}

// device answers GET /ui/devices/{mac}: the whitelist entry, what the
// device reported, the decision it would get now and its last check-ins.
func (d *Dashboard) device(w http.ResponseWriter, r *http.Request) {
	start, now := time.Now(), d.now()
	snap := d.snaps.Current()
	mac, err := rollout.ParseMAC(mux.Vars(r)["mac"])
	if err != nil {
		d.notFound(w, r, snap, now, start, "%v", err)
		return
	}
	p := devicePage{base: d.base(mac.String(), "devices", snap, now), MAC: mac.String(), HasTracker: d.devs != nil}
	if snap != nil {
		p.Entry = snap.Fleet.Device(mac)
	}
	if p.Entry != nil {
		p.Title = mac.String() + " " + p.Entry.Name
		if p.Entry.Pin != nil {
			p.Pin = p.Entry.Pin.String()
		}
	}
	var last *checkin.CheckIn
	if d.devs != nil {
		if sum, ok := d.devs.Device(mac); ok {
			p.Summary = &sum
			p.State, p.StateClass = deviceState(&sum)
		}
		hist, err := d.devs.History(r.Context(), mac, historyRows)
		if err != nil {
			d.log.Error("device history", "mac", mac.String(), "err", err)
			p.HistoryErr = "The check-in history could not be read: " + err.Error()
		}
		p.CheckIns = hist
		if len(hist) > 0 {
			last = &hist[0]
		}
	}
	if p.Entry == nil && p.Summary == nil {
		d.notFound(w, r, snap, now, start, "Device %s is not whitelisted and has not checked in.", mac)
		return
	}
	if p.Entry != nil {
		dec := checkin.DecideNow(snap.Fleet, p.Entry, p.Summary, last, now, d.halted())
		p.Decision = &decisionView{Reason: dec.Reason(), Assumes: dec.Assumes}
		switch {
		case !dec.Known:
			p.Decision.Answer, p.Decision.Class, p.Decision.Reason = "unknown until it checks in", "pending", "The device has not checked in, so its version is unknown."
			p.Decision.Assumes = ""
		case dec.Outcome == rollout.Update:
			p.Decision.Answer, p.Decision.Class = "update to "+dec.Release.Version.String()+" offered (200)", "pending"
		case dec.Outcome == rollout.UpToDate:
			p.Decision.Answer, p.Decision.Class = "nothing to install (304)", "ok"
		default:
			p.Decision.Answer, p.Decision.Class = "refused: "+dec.Outcome.String(), "bad"
		}
	}
	d.render(w, r, http.StatusOK, "device", p, start)
}
