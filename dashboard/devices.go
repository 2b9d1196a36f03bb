package dashboard

import (
	"bytes"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/rollout"
)

// perPage is how many devices a page of the device list shows.
const perPage = 50

// deviceQuery is the device list's search and filters, as the form sends
// them.
type deviceQuery struct {
	// Q matches the MAC (in any notation, or part of it) or the name.
	Q string
	// Platform, Version and Outcome are as in checkin.Filter; Version and
	// Outcome match only devices that checked in.
	Platform, Version, Outcome string
	// Seen is "" (all), "seen", "never" (whitelisted, never checked in)
	// or "gone" (checked in, no longer whitelisted).
	Seen string
	// Page is 1-based.
	Page int
}

// option is a choice of a select field.
type option struct{ Value, Label string }

var (
	outcomeChoices = []string{"success", "failure", "pending", "none"}
	seenChoices    = []string{"seen", "never", "gone"}
	outcomeOptions = []option{{"success", "last update succeeded"}, {"failure", "last update failed"},
		{"pending", "update offered, pending"}, {"none", "no update offered"}}
	seenOptions = []option{{"seen", "checked in"}, {"never", "never checked in"}, {"gone", "no longer whitelisted"}}
)

func parseDeviceQuery(r *http.Request) (deviceQuery, string) {
	v := r.URL.Query()
	q := deviceQuery{Q: strings.TrimSpace(v.Get("q")), Platform: v.Get("platform"), Version: strings.TrimSpace(v.Get("version")),
		Outcome: v.Get("outcome"), Seen: v.Get("seen"), Page: 1}
	var problem string
	if q.Outcome != "" && !slices.Contains(outcomeChoices, q.Outcome) {
		problem, q.Outcome = "outcome must be success, failure, pending or none", ""
	}
	if q.Seen != "" && !slices.Contains(seenChoices, q.Seen) {
		problem, q.Seen = "seen must be seen, never or gone", ""
	}
	if s := v.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			problem = "page must be a positive number"
		} else {
			q.Page = n
		}
	}
	if len(q.Q) > 64 {
		q.Q = q.Q[:64]
	}
	return q, problem
}

// deviceRow is a device in the list.
type deviceRow struct {
	MAC, Name, Platform string
	Whitelisted, Seen   bool
	Version             string
	LastSeen            time.Time
	State, StateClass   string
}

type devicesPage struct {
	base
	Query deviceQuery
	// Problem says what was wrong with the query, "" if nothing.
	Problem    string
	HasTracker bool
	Total      int
	From, To   int
	Rows       []deviceRow
	Platforms  []string
	Versions   []string
	Outcomes   []option
	SeenOpts   []option
	Prev, Next template.URL
}

// devices answers GET /ui/devices: the whitelisted devices and those that
// checked in, searched, filtered and paged in MAC order.
func (d *Dashboard) devices(w http.ResponseWriter, r *http.Request) {
	start, now := time.Now(), d.now()
	snap := d.snaps.Current()
	q, problem := parseDeviceQuery(r)
	p := devicesPage{base: d.base("Devices", "devices", snap, now), Query: q, Problem: problem, HasTracker: d.devs != nil,
		Outcomes: outcomeOptions, SeenOpts: seenOptions}
	var fleet *rollout.Fleet
	if snap != nil {
		fleet = snap.Fleet
		for _, pl := range fleet.Platforms() {
			p.Platforms = append(p.Platforms, pl.Name)
		}
	}
	{
		seen := map[string]bool{}
		for _, vs := range d.versionCounts() {
			for _, v := range vs {
				if !seen[v.Version] {
					seen[v.Version] = true
					p.Versions = append(p.Versions, v.Version)
				}
			}
		}
		slices.SortFunc(p.Versions, compareVersions)
	}
	macs, total := d.findDevices(fleet, q, (q.Page-1)*perPage, perPage)
	p.Total = total
	if len(macs) > 0 {
		p.From, p.To = (q.Page-1)*perPage+1, (q.Page-1)*perPage+len(macs)
	}
	for _, m := range macs {
		p.Rows = append(p.Rows, d.deviceRow(fleet, m, now))
	}
	link := func(page int) template.URL {
		return template.URL("/ui/devices") + query("q", q.Q, "platform", q.Platform, "version", q.Version,
			"outcome", q.Outcome, "seen", q.Seen, "page", page)
	}
	if q.Page > 1 {
		p.Prev = link(q.Page - 1)
	}
	if q.Page*perPage < total {
		p.Next = link(q.Page + 1)
	}
	d.render(w, r, http.StatusOK, "devices", p, start)
}

// findDevices returns the MACs of the devices matching q, in MAC order,
// from offset, at most limit, and how many match in all. It walks the
// whitelist and the tracker's index side by side, both sorted, testing
// each device in place: no summary is copied.
func (d *Dashboard) findDevices(f *rollout.Fleet, q deviceQuery, offset, limit int) ([]rollout.MAC, int) {
	var wl []*rollout.Device
	if f != nil {
		wl = f.Devices()
	}
	var seen []rollout.MAC
	var m, mp *checkin.Matcher // without and with the platform, for devices not whitelisted
	if d.devs != nil {
		seen = d.devs.Index()
		m = checkin.Filter{Version: q.Version, Outcome: q.Outcome}.Matcher()
		mp = checkin.Filter{Platform: q.Platform, Version: q.Version, Outcome: q.Outcome}.Matcher()
	}
	trackerTest := q.Version != "" || q.Outcome != ""
	needle, hexNeedle := strings.ToLower(q.Q), macNeedle(q.Q)
	var out []rollout.MAC
	total := 0
	i, j := 0, 0
	for i < len(wl) || j < len(seen) {
		var mac rollout.MAC
		var entry *rollout.Device
		isSeen := false
		switch {
		case j >= len(seen) || (i < len(wl) && compareMAC(wl[i].MAC, seen[j]) < 0):
			entry, mac = wl[i], wl[i].MAC
			i++
		case i >= len(wl) || compareMAC(seen[j], wl[i].MAC) < 0:
			mac, isSeen = seen[j], true
			j++
		default:
			entry, mac, isSeen = wl[i], wl[i].MAC, true
			i++
			j++
		}
		switch q.Seen {
		case "seen":
			if !isSeen {
				continue
			}
		case "never":
			if isSeen || entry == nil {
				continue
			}
		case "gone":
			if !isSeen || entry != nil {
				continue
			}
		}
		if needle != "" && !macMatches(mac, hexNeedle) && (entry == nil || !containsFold(entry.Name, needle)) {
			continue
		}
		if entry != nil && q.Platform != "" && !strings.EqualFold(entry.Platform, q.Platform) {
			continue
		}
		if entry == nil || trackerTest {
			if !isSeen {
				continue // version and outcome are known only of devices that checked in
			}
			matcher := m
			if entry == nil {
				matcher = mp
			}
			if ok, _ := d.devs.Match(mac, matcher); !ok {
				continue
			}
		}
		if total >= offset && len(out) < limit {
			out = append(out, mac)
		}
		total++
	}
	return out, total
}

// deviceRow makes the row of mac.
func (d *Dashboard) deviceRow(f *rollout.Fleet, mac rollout.MAC, now time.Time) deviceRow {
	row := deviceRow{MAC: mac.String(), State: "—"}
	if dev := f.Device(mac); dev != nil {
		row.Whitelisted, row.Name, row.Platform = true, dev.Name, dev.Platform
	}
	if d.devs == nil {
		return row
	}
	sum, ok := d.devs.Device(mac)
	if !ok {
		row.State, row.StateClass = "never checked in", "muted"
		return row
	}
	row.Seen, row.Version, row.LastSeen = true, sum.LastVersion, sum.LastSeen
	if row.Platform == "" {
		row.Platform = sum.Platform
	}
	row.State, row.StateClass = deviceState(&sum)
	return row
}

// deviceState says in a few words where a device's updates stand.
func deviceState(sum *checkin.Device) (text, class string) {
	switch {
	case sum.Offer != nil && len(sum.Outcomes) > 0 && sum.Outcomes[0].Result == checkin.Failure:
		return "offered " + sum.Offer.Version + ", pending; the last update, to " + sum.Outcomes[0].Version + ", failed", "bad"
	case sum.Offer != nil:
		return "offered " + sum.Offer.Version + ", pending", "pending"
	case len(sum.Outcomes) > 0:
		o := sum.Outcomes[0]
		if o.Result == checkin.Success {
			return "updated to " + o.Version, "ok"
		}
		return "update to " + o.Version + " failed", "bad"
	}
	return "no update offered", "muted"
}

// macNeedle returns the hex digits of a search for a MAC, lower case,
// or nil if s is not hex digits and separators.
func macNeedle(s string) []byte {
	var out []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			out = append(out, c)
		case c >= 'A' && c <= 'F':
			out = append(out, c+'a'-'A')
		case c == ':' || c == '-' || c == '.':
		default:
			return nil
		}
	}
	return out
}

// macMatches reports whether mac's hex digits contain needle.
func macMatches(mac rollout.MAC, needle []byte) bool {
	if len(needle) == 0 {
		return false
	}
	const digits = "0123456789abcdef"
	var b [12]byte
	for i, x := range mac {
		b[2*i], b[2*i+1] = digits[x>>4], digits[x&15]
	}
	return bytes.Contains(b[:], needle)
}

// containsFold reports whether s contains sub (lower case), ignoring
// case, without allocating.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func compareMAC(a, b rollout.MAC) int { return bytes.Compare(a[:], b[:]) }
