package plan_test

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gorilla/mux"

	"github.com/otagit/otagit/httpapi"
	"github.com/otagit/otagit/plan"
	"github.com/otagit/otagit/rollout"
)

var (
	propSeed  = flag.Uint64("plan.seed", 20261202, "seed of TestPlanMatchesServer's random cases (0: from the clock, for exploring)")
	propCases = flag.Int("plan.cases", 300, "random cases of TestPlanMatchesServer")
)

// The specs below describe fleets as plain values, so that a change can be
// made by copying and editing one, and each fleet is built afresh
// (NewFleet sorts and adjusts what it is given).

type releaseSpec struct {
	version        string
	channel        rollout.Channel
	groups         []string
	stages         []rollout.Stage
	from           string
	yanked, paused bool
	// introduced is how long before the plan's time the release was
	// introduced; negative means unknown (a work tree).
	introduced time.Duration
}

type platformSpec struct {
	name               string
	releases           []releaseSpec
	paused, noRollback bool
}

type deviceSpec struct {
	mac      rollout.MAC
	platform string
	channel  rollout.Channel
	groups   []string
	pin      string
}

type fleetSpec struct {
	platforms []platformSpec
	devices   []deviceSpec
	// pins are group pins; the loader gives them to the group's devices
	// that set none, and so does build.
	pins map[string]string
}

// propCase is one planned change and the world it happens in.
type propCase struct {
	name       string
	base, head *fleetSpec // base nil: no base config
	now        time.Time
	halts      map[string]bool             // by release ID
	versions   map[rollout.MAC]string      // known versions
	check      func(*testing.T, plan.Plan) // extra checks of a fixed case
}

var propT0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func mac(i byte) rollout.MAC { return rollout.MAC{0x18, 0xFE, 0x34, 0xA1, 0x00, i} }

// artifacts makes one distinct image file per platform and version, shared
// by base and head, so that a served image names its release.
type artifacts struct {
	dir   string
	files map[string]rollout.Artifact
	byMD5 map[string]string // MD5 -> "platform version"
}

func (a *artifacts) get(t testing.TB, platform, version string) rollout.Artifact {
	key := platform + " " + version
	if art, ok := a.files[key]; ok {
		return art
	}
	data := []byte("\xe9 image of " + key)
	file := filepath.Join(a.dir, fmt.Sprintf("%d.bin", len(a.files)))
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m, s := md5.Sum(data), sha256.Sum256(data)
	art := rollout.Artifact{Source: rollout.Source{Path: "firmware/" + key + ".bin"}, File: file, Size: int64(len(data)),
		MD5: hex.EncodeToString(m[:]), SHA256: hex.EncodeToString(s[:])}
	a.files[key], a.byMD5[art.MD5] = art, key
	return art
}

func (s *fleetSpec) build(t testing.TB, arts *artifacts, now time.Time) *rollout.Fleet {
	if s == nil {
		return nil
	}
	var platforms []*rollout.Platform
	for _, ps := range s.platforms {
		p := &rollout.Platform{Name: ps.name, Paused: ps.paused, NoRollback: ps.noRollback}
		for _, rs := range ps.releases {
			r := &rollout.Release{Platform: ps.name, Version: semver.MustParse(rs.version), Artifact: arts.get(t, ps.name, rs.version),
				Channel: rs.channel, Groups: rs.groups, Stages: rs.stages, Yanked: rs.yanked, Paused: rs.paused, Fingerprint: rs.version}
			if rs.from != "" {
				c, err := semver.NewConstraint(rs.from)
				if err != nil {
					t.Fatal(err)
				}
				r.From = c
			}
			if rs.introduced >= 0 {
				r.IntroducedAt = now.Add(-rs.introduced)
			}
			p.Releases = append(p.Releases, r)
		}
		platforms = append(platforms, p)
	}
	var groups []*rollout.Group
	for g, v := range s.pins {
		groups = append(groups, &rollout.Group{Name: g, Pin: semver.MustParse(v)})
	}
	var devices []*rollout.Device
	for _, ds := range s.devices {
		d := &rollout.Device{MAC: ds.mac, Platform: ds.platform, Channel: ds.channel, Groups: ds.groups}
		pin := ds.pin
		for _, g := range ds.groups {
			if pin == "" && s.pins[g] != "" {
				pin = s.pins[g]
			}
		}
		if pin != "" {
			d.Pin = semver.MustParse(pin)
		}
		devices = append(devices, d)
	}
	f, err := rollout.NewFleetWithGroups(platforms, devices, groups)
	if err != nil {
		t.Fatalf("%v\n%+v", err, s)
	}
	return f
}

// haltsOnly is the run-time state of a server that only knows halts.
type haltsOnly struct {
	halted map[string]bool
}

func (h haltsOnly) Halted(r *rollout.Release) bool { return h.halted[r.ID().String()] }

// server is the real /update handler serving fleet at now.
func server(fleet *rollout.Fleet, halts map[string]bool, now time.Time) http.Handler {
	r := mux.NewRouter()
	httpapi.New(httpapi.Config{Snapshots: snapshots{fleet}, Halts: haltsOnly{halted: halts},
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}).Register(r)
	return r
}

// answer is what a device gets, request after request, from start.
type answer struct {
	status   int      // of the first request
	installs []string // versions served, one after the other, until not 200
	loops    bool     // a version came round again
}

// ask sends GET /update as an ESP8266 does, first from start, then, after
// each image, from the version served (and its MD5 as the sketch's).
func ask(t *testing.T, h http.Handler, arts *artifacts, m rollout.MAC, start string) answer {
	t.Helper()
	var a answer
	version, sketch := start, "0123456789abcdef0123456789abcdef"
	seen := map[string]bool{}
	if v, err := rollout.ParseDeviceVersion(start); err == nil {
		seen[v.String()] = true
	}
	for i := 0; ; i++ {
		req := httptest.NewRequest(http.MethodGet, "/update", nil)
		for k, v := range map[string]string{
			"User-Agent": "ESP8266-http-Update", "x-ESP8266-STA-MAC": m.String(), "x-ESP8266-version": version,
			"x-ESP8266-sketch-md5": sketch, "x-ESP8266-free-space": "2097152", "x-ESP8266-chip-size": "4194304",
			"x-ESP8266-mode": "sketch", "x-ESP8266-sdk-version": "2.2.2-dev(38a443e)",
		} {
			req.Header.Set(k, v) // as a server reads them: canonical names
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if i == 0 {
			a.status = rec.Code
		}
		if rec.Code != http.StatusOK {
			return a
		}
		key, ok := arts.byMD5[header(rec, "x-MD5")]
		if !ok {
			t.Fatalf("%s on %s: served an image of no release (x-MD5 %q)", m, version, header(rec, "x-MD5"))
		}
		_, served, _ := strings.Cut(key, " ")
		if want := "attachment; filename=" + strings.ReplaceAll(key, " ", "-") + ".bin"; header(rec, "Content-Disposition") != want {
			t.Fatalf("%s: Content-Disposition %q, want %q", m, header(rec, "Content-Disposition"), want)
		}
		if seen[served] {
			a.loops = true
			return a
		}
		seen[served] = true
		a.installs = append(a.installs, served)
		version, sketch = served, header(rec, "x-MD5")
	}
}

// header reads a response header as a device does, whatever the case of
// its name (the server writes some as the reference server spells them).
func header(rec *httptest.ResponseRecorder, name string) string {
	for k, v := range rec.Header() {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// statusOf is the status /update answers a plan's outcome with.
var statusOf = map[rollout.Outcome]int{
	rollout.Update: http.StatusOK, rollout.UpToDate: http.StatusNotModified,
	rollout.NotWhitelisted: http.StatusForbidden, rollout.BadVersion: http.StatusBadRequest,
}

// endsOn is where a device that got a ends up, as a plan names it.
func (a answer) endsOn(start string) string {
	if len(a.installs) > 0 {
		return a.installs[len(a.installs)-1]
	}
	if v, err := rollout.ParseDeviceVersion(start); err == nil {
		return v.String()
	}
	return start
}

// checkPlan checks every line of c's plan against the real handler; arts
// holds the images of every release (cases share them: making files is
// what takes time here).
func checkPlan(t *testing.T, c propCase, arts *artifacts) {
	base, head := c.base.build(t, arts, c.now), c.head.build(t, arts, c.now)
	in := plan.Input{Base: base, Head: head, Now: c.now, All: true,
		Reported: plan.Versions(c.versions).Reported, Halts: haltsOnly{halted: c.halts}}
	p := plan.Make(in)
	baseSrv, headSrv := server(base, c.halts, c.now), server(head, c.halts, c.now)

	// Every device has lines; an unknown device's lines cover the
	// versions it may run, each once.
	covered := map[rollout.MAC][]string{}
	changed := map[rollout.MAC]bool{}
	for _, l := range p.Devices {
		m, err := rollout.ParseMAC(l.MAC)
		if err != nil {
			t.Fatal(err)
		}
		known, isKnown := c.versions[m]
		if isKnown != (l.Runs != "") || (isKnown && l.Runs != known) || (isKnown && len(l.Starts) > 0) {
			t.Errorf("%s: runs %q, starts %v; known version %q (%v)", l.MAC, l.Runs, l.Starts, known, isKnown)
		}
		starts := l.Starts
		if isKnown {
			starts = []string{known}
		}
		covered[m] = append(covered[m], starts...)
		changed[m] = changed[m] || l.Kind != plan.KindUnchanged
		inBase, inHead := base.Device(m) != nil, head.Device(m) != nil
		for _, s := range starts {
			where := fmt.Sprintf("%s (%s) from %q", l.MAC, l.Name, s)
			got := ask(t, headSrv, arts, m, s)
			if want := statusOf[l.After.Outcome]; got.status != want {
				t.Errorf("%s: plan says %s (status %d), server answers %d; line %+v", where, l.After.Outcome, want, got.status, l)
			}
			if len(l.After.Installs) > 0 && l.After.Offered != l.After.Installs[0] || len(l.After.Installs) == 0 && l.After.Offered != "" {
				t.Errorf("%s: offered %q, installs %v", where, l.After.Offered, l.After.Installs)
			}
			if !slices.Equal(got.installs, l.After.Installs) || got.loops != l.After.Loops {
				t.Errorf("%s: plan installs %v (loops %v), server serves %v (loops %v)", where, l.After.Installs, l.After.Loops, got.installs, got.loops)
			}
			wantEnd := got.endsOn(s)
			if !inHead {
				wantEnd = ""
			}
			if l.After.EndsOn != wantEnd {
				t.Errorf("%s: plan ends on %q, server takes it to %q", where, l.After.EndsOn, wantEnd)
			}
			var before answer
			wantBefore := ""
			if inBase {
				before = ask(t, baseSrv, arts, m, s)
				wantBefore = before.endsOn(s)
			}
			if l.Before != wantBefore {
				t.Errorf("%s: plan says it ends on %q before, the base server takes it to %q", where, l.Before, wantBefore)
			}
			wantKind := plan.KindUnchanged
			switch {
			case !inBase:
				wantKind = plan.KindNew
			case !inHead:
				wantKind = plan.KindGone
			case before.status != got.status || !slices.Equal(before.installs, got.installs) || before.loops != got.loops:
				wantKind = plan.KindChanged
			}
			if l.Kind != wantKind {
				t.Errorf("%s: kind %q, want %q (before %+v, after %+v)", where, l.Kind, wantKind, before, got)
			}
			// The reason is the server's own, for this very start.
			if inHead && (isKnown || len(starts) == 1) {
				d := rollout.Decide(head, rollout.Request{MAC: m, Version: s, Now: c.now}, in.Halts)
				if !strings.HasPrefix(l.After.Reason, d.Reason()) {
					t.Errorf("%s: reason %q does not start with the decision's %q", where, l.After.Reason, d.Reason())
				}
			}
			if strings.Contains(l.After.Reason, "which it runs") && len(l.After.Installs) > 0 {
				t.Errorf("%s: reason %q for a device that is offered %s", where, l.After.Reason, l.After.Offered)
			}
		}
	}
	unchanged := 0
	for _, f := range []*rollout.Fleet{base, head} {
		for _, d := range f.Devices() {
			if f == head && base.Device(d.MAC) != nil {
				continue
			}
			if !changed[d.MAC] {
				unchanged++
			}
			got := covered[d.MAC]
			var want []string
			if v, ok := c.versions[d.MAC]; ok {
				want = []string{v}
			} else {
				want = mayRun(base, head, d.MAC)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: lines cover %v, want %v", d.MAC, got, want)
			}
		}
	}
	if p.Unchanged != unchanged {
		t.Errorf("unchanged: %d, want %d", p.Unchanged, unchanged)
	}
	if c.check != nil {
		c.check(t, p)
	}
	if t.Failed() {
		var md strings.Builder
		plan.WriteMarkdown(&md, plan.Header{Base: "base", Head: "head", At: c.now}, &p)
		t.Logf("base %+v\nhead %+v\nversions %v halts %v now %s\n%s", c.base, c.head, c.versions, c.halts, c.now, md.String())
	}
}

// mayRun is what an unknown device may run: the base's releases of its
// platform (the head's without one in the base), and plan.NoRelease.
func mayRun(base, head *rollout.Fleet, m rollout.MAC) []string {
	d := base.Device(m)
	if d == nil {
		d = head.Device(m)
	}
	p := base.Platform(d.Platform)
	if p == nil {
		p = head.Platform(d.Platform)
	}
	out := []string{plan.NoRelease}
	if p != nil {
		for _, r := range p.Releases {
			if v := r.Version.String(); v != plan.NoRelease {
				out = append(out, v)
			}
		}
	}
	return out
}

// lineOf returns the line of device m; the device must have exactly one.
func lineOf(t *testing.T, p plan.Plan, m rollout.MAC) plan.DeviceChange {
	t.Helper()
	var found []plan.DeviceChange
	for _, l := range p.Devices {
		if l.MAC == m.String() {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d lines, want 1: %+v", m, len(found), found)
	}
	return found[0]
}

func lamp(versions ...string) platformSpec {
	p := platformSpec{name: "lamp"}
	for _, v := range versions {
		p.releases = append(p.releases, releaseSpec{version: v, introduced: -1})
	}
	return p
}

// fixedCases are the three plans that once disagreed with /update.
func fixedCases() []propCase {
	lamps := []deviceSpec{{mac: mac(1), platform: "lamp"}, {mac: mac(2), platform: "lamp"}, {mac: mac(3), platform: "lamp"}}
	from11 := lamp("1.2.0")
	from11.releases[0].from = ">=1.1.0"
	yankFrom := lamp("1.0.0", "1.1.0", "1.2.0")
	yankFrom.releases[1].yanked = true
	yankFrom.releases[2].from = ">=1.1.0"
	pinned := slices.Clone(lamps)
	pinned[0].pin = "1.0.0"
	onBoth := map[rollout.MAC]string{mac(1): "1.1.0", mac(2): "1.1.0"} // the third lamp's version is unknown
	expect := func(m rollout.MAC, offered, ends string, reason func(string) bool) func(*testing.T, plan.Plan) {
		return func(t *testing.T, p plan.Plan) {
			l := lineOf(t, p, m)
			if l.After.Offered != offered || l.After.EndsOn != ends || (reason != nil && !reason(l.After.Reason)) {
				t.Errorf("%s on %s: offered %q, ends on %q (%s); want %q, %q", m, l.Runs, l.After.Offered, l.After.EndsOn, l.After.Reason, offered, ends)
			}
		}
	}
	both := func(checks ...func(*testing.T, plan.Plan)) func(*testing.T, plan.Plan) {
		return func(t *testing.T, p plan.Plan) {
			for _, c := range checks {
				c(t, p)
			}
		}
	}
	base := &fleetSpec{platforms: []platformSpec{lamp("1.0.0", "1.1.0")}, devices: lamps}
	return []propCase{
		{
			name: "drop 1.0.0 and 1.1.0, add 1.2.0 from >=1.1.0", now: propT0, versions: onBoth, base: base,
			head:  &fleetSpec{platforms: []platformSpec{from11}, devices: lamps},
			check: both(expect(mac(1), "1.2.0", "1.2.0", nil), expect(mac(2), "1.2.0", "1.2.0", nil)),
		},
		{
			name: "yank 1.1.0, add 1.2.0 from >=1.1.0", now: propT0, versions: onBoth, base: base,
			head:  &fleetSpec{platforms: []platformSpec{yankFrom}, devices: lamps},
			check: both(expect(mac(1), "1.2.0", "1.2.0", nil), expect(mac(2), "1.2.0", "1.2.0", nil)),
		},
		{
			name: "pin a lamp on 1.1.0 to 1.0.0", now: propT0, versions: onBoth, base: base,
			head: &fleetSpec{platforms: []platformSpec{lamp("1.0.0", "1.1.0")}, devices: pinned},
			check: expect(mac(1), "1.0.0", "1.0.0", func(r string) bool {
				return r == "pinned to 1.0.0 (running 1.1.0)"
			}),
		},
	}
}

// TestPlanMatchesServer is the acceptance of plans: for random configs,
// changes, device versions and times, every line of a plan is what the
// real /update handler answers that device from that version at that
// time, request after request. The fixed cases come first.
func TestPlanMatchesServer(t *testing.T) {
	arts := &artifacts{dir: t.TempDir(), files: map[string]rollout.Artifact{}, byMD5: map[string]string{}}
	for _, c := range fixedCases() {
		t.Run(c.name, func(t *testing.T) { checkPlan(t, c, arts) })
	}
	seed := *propSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -plan.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x07a617))
	for i := range *propCases {
		c := randomCase(rng)
		c.name = fmt.Sprintf("random %d", i)
		if !t.Run(c.name, func(t *testing.T) { checkPlan(t, c, arts) }) {
			t.Logf("seed %d: case %d failed", seed, i)
			return
		}
	}
}

// Random material: versions with pre-releases and gaps, constraints on
// either side of them, a few groups.
var (
	propVersions = []string{"0.9.0", "1.0.0", "1.1.0", "1.2.0-rc.1", "1.2.0", "1.3.0", "2.0.0", "2.1.0-beta.1"}
	propFroms    = []string{">=1.1.0", "<1.3.0", ">=1.0.0, <2.0.0", "~1.2", ">=0.5.0", "1.1.0", "^1.0.0", ">=1.2.0-0"}
	propGroups   = []string{"canary", "site-a"}
	// propReported are versions devices report that are no release.
	propReported = []string{"0.1", "1.0.5", "3.0.0", "v1.1.0", "1.2", "V2.0.0", "garbage", "1.0.0+local"}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func randomRelease(rng *rand.Rand, version string) releaseSpec {
	r := releaseSpec{version: version, introduced: -1}
	if rng.IntN(4) == 0 {
		r.channel = rollout.Channel(1 + rng.IntN(2))
	}
	if rng.IntN(5) == 0 {
		r.groups = []string{pick(rng, propGroups)}
	}
	if rng.IntN(3) == 0 {
		after := time.Duration(0)
		pct := 0.0
		for n := 1 + rng.IntN(3); n > 0 && pct < 100; n-- {
			pct = min(100, pct+float64(5+rng.IntN(60)))
			r.stages = append(r.stages, rollout.Stage{Percent: pct, After: after})
			after += time.Duration(1+rng.IntN(48)) * time.Hour
		}
	}
	if rng.IntN(3) == 0 {
		r.from = pick(rng, propFroms)
	}
	r.yanked = rng.IntN(6) == 0
	r.paused = rng.IntN(10) == 0
	if rng.IntN(4) != 0 {
		r.introduced = time.Duration(rng.IntN(120)) * time.Hour
	}
	return r
}

func randomFleet(rng *rand.Rand) *fleetSpec {
	s := &fleetSpec{pins: map[string]string{}}
	for _, name := range []string{"lamp", "station"}[:1+rng.IntN(2)] {
		p := platformSpec{name: name, paused: rng.IntN(12) == 0, noRollback: rng.IntN(4) == 0}
		for _, v := range propVersions {
			if rng.IntN(2) == 0 {
				p.releases = append(p.releases, randomRelease(rng, v))
			}
		}
		s.platforms = append(s.platforms, p)
	}
	if rng.IntN(4) == 0 {
		s.pins[pick(rng, propGroups)] = pick(rng, propVersions)
	}
	for i := range 2 + rng.IntN(6) {
		s.devices = append(s.devices, randomDevice(rng, s, byte(i)))
	}
	return s
}

func randomDevice(rng *rand.Rand, s *fleetSpec, i byte) deviceSpec {
	d := deviceSpec{mac: rollout.MAC{0x18, 0xFE, 0x34, byte(rng.IntN(256)), byte(rng.IntN(256)), i},
		platform: pick(rng, s.platforms).name}
	if rng.IntN(4) == 0 {
		d.channel = rollout.Channel(1 + rng.IntN(2))
	}
	if rng.IntN(3) == 0 {
		d.groups = []string{pick(rng, propGroups)}
	}
	if rng.IntN(6) == 0 {
		d.pin = pick(rng, propVersions)
	}
	return d
}

// mutate returns a copy of s with a few random changes, as a pull request
// makes them.
func mutate(rng *rand.Rand, s *fleetSpec) *fleetSpec {
	h := &fleetSpec{devices: slices.Clone(s.devices), pins: map[string]string{}}
	for g, v := range s.pins {
		h.pins[g] = v
	}
	for _, p := range s.platforms {
		p.releases = slices.Clone(p.releases)
		h.platforms = append(h.platforms, p)
	}
	for n := 1 + rng.IntN(4); n > 0; n-- {
		p := &h.platforms[rng.IntN(len(h.platforms))]
		switch rng.IntN(10) {
		case 0: // add a release
			v := pick(rng, propVersions)
			if !slices.ContainsFunc(p.releases, func(r releaseSpec) bool { return r.version == v }) {
				p.releases = append(p.releases, randomRelease(rng, v))
			}
		case 1: // remove one
			if len(p.releases) > 0 {
				i := rng.IntN(len(p.releases))
				p.releases = slices.Delete(p.releases, i, i+1)
			}
		case 2, 3: // change one's rules
			if len(p.releases) > 0 {
				i := rng.IntN(len(p.releases))
				r := randomRelease(rng, p.releases[i].version)
				r.introduced = p.releases[i].introduced
				p.releases[i] = r
			}
		case 4:
			p.paused = !p.paused
		case 5:
			p.noRollback = !p.noRollback
		case 6: // a new device
			d := randomDevice(rng, h, byte(100+rng.IntN(100)))
			if !slices.ContainsFunc(h.devices, func(o deviceSpec) bool { return o.mac == d.mac }) {
				h.devices = append(h.devices, d)
			}
		case 7: // a device goes
			if len(h.devices) > 1 {
				i := rng.IntN(len(h.devices))
				h.devices = slices.Delete(h.devices, i, i+1)
			}
		case 8: // a device's settings
			i := rng.IntN(len(h.devices))
			nd := randomDevice(rng, h, 0)
			nd.mac = h.devices[i].mac
			h.devices[i] = nd
		case 9: // a group pin
			g := pick(rng, propGroups)
			if h.pins[g] != "" {
				delete(h.pins, g)
			} else {
				h.pins[g] = pick(rng, propVersions)
			}
		}
	}
	return h
}

func randomCase(rng *rand.Rand) propCase {
	c := propCase{now: propT0.Add(time.Duration(rng.IntN(200)) * time.Hour), halts: map[string]bool{}, versions: map[rollout.MAC]string{}}
	c.base = randomFleet(rng)
	c.head = mutate(rng, c.base)
	if rng.IntN(20) == 0 {
		c.base = nil
	}
	macs := map[rollout.MAC]bool{}
	for _, s := range []*fleetSpec{c.base, c.head} {
		if s == nil {
			continue
		}
		for _, d := range s.devices {
			macs[d.mac] = true
		}
		for _, p := range s.platforms {
			for _, r := range p.releases {
				if rng.IntN(8) == 0 {
					c.halts[p.name+"@"+r.version] = true
				}
			}
		}
	}
	for m := range macs {
		switch rng.IntN(3) {
		case 0: // unknown
		case 1:
			c.versions[m] = pick(rng, propVersions)
		default:
			c.versions[m] = pick(rng, propReported)
		}
	}
	return c
}
