package dashboard

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/rollout"
)

type platformsPage struct {
	base
	Platforms []platformSummary
}

// platforms answers GET /ui/platforms: every platform, its devices and
// what rolls out.
func (d *Dashboard) platforms(w http.ResponseWriter, r *http.Request) {
	start, now := time.Now(), d.now()
	snap := d.snaps.Current()
	p := platformsPage{base: d.base("Platforms", "platforms", snap, now)}
	p.Refresh = true
	if snap != nil {
		p.Platforms = platformSummaries(snap.Fleet, d.versionCounts(), d.halted(), now)
	}
	d.render(w, r, http.StatusOK, "platforms", p, start)
}

type platformPage struct {
	base
	Platform    platformSummary
	HasAdoption bool
	Chart       adoptionChart
	Releases    []releaseCard
}

// releaseCard is a release on its platform's page.
type releaseCard struct {
	ID, Version, Channel string
	Groups               []string
	From                 string
	Yanked, Paused       bool
	Halted               bool
	Halt                 *haltView
	Source               string
	Size                 int64
	MD5                  string
	IntroducedAt         time.Time
	IntroducedIn         string
	HaltRule             string
	StageNow             string
	NextStage            time.Time
	Stages               []stageRow
	Offered, Succeeded   int
	Failed, Pending      int
	Timeline             *timeline
	Style                int
	HasCounts, HasStages bool
}

// stageRow is one stage of a release (or the whole fleet for a release
// without stages) with its devices.
type stageRow struct {
	Name    string
	Percent float64
	Starts  time.Time
	// InForce is set for the stage in force now; Started once it began.
	InForce, Started bool
	// Cohort counts the whitelisted devices this stage brings in (for a
	// release without stages, every device that may have it), -1 when
	// unknown.
	Cohort                              int
	Offered, Succeeded, Failed, Pending int
	Bar                                 progressBar
}

// platform answers GET /ui/platforms/{platform}: adoption over time and
// every release with its stages.
func (d *Dashboard) platform(w http.ResponseWriter, r *http.Request) {
	start, now := time.Now(), d.now()
	snap := d.snaps.Current()
	name := mux.Vars(r)["platform"]
	var p *rollout.Platform
	if snap != nil {
		p = snap.Fleet.Platform(name)
	}
	if p == nil {
		d.notFound(w, r, snap, now, start, "The served config has no platform %q.", name)
		return
	}
	pg := platformPage{base: d.base(p.Name, "platforms", snap, now), HasAdoption: d.adoption != nil}
	pg.Refresh = true
	var samples []checkin.AdoptionSample
	if d.adoption != nil {
		samples = d.adoption.Adoption(p.Name, now)
	}
	halts := d.haltList()
	pg.Platform = summarize(p, whitelisted(snap.Fleet)[p.Name], d.versionCounts()[p.Name], d.halted(), now)
	pg.Chart = newAdoptionChart(p, samples)
	cohorts := d.cohorts.of(snap, p)
	st := newStyler(p)
	for _, rel := range p.Releases {
		pg.Releases = append(pg.Releases, d.releaseCard(rel, cohorts[rel.ID()], halts, st, now))
	}
	d.render(w, r, http.StatusOK, "platform", pg, start)
}

func (d *Dashboard) releaseCard(rel *rollout.Release, cohort []int, halts []checkin.Halt, st styler, now time.Time) releaseCard {
	c := releaseCard{
		ID: rel.ID().String(), Version: rel.Version.String(), Channel: rel.Channel.String(), Groups: rel.Groups,
		Yanked: rel.Yanked, Paused: rel.Paused, Source: rel.Artifact.Source.String(), Size: rel.Artifact.Size,
		MD5: rel.Artifact.MD5, IntroducedAt: rel.IntroducedAt, IntroducedIn: rel.IntroducedIn,
		Style: st.of(rollout.VersionKey(rel.Version)), HasStages: len(rel.Stages) > 0,
	}
	if rel.From != nil {
		c.From = rel.From.String()
	}
	if rel.HaltOnFailure > 0 {
		c.HaltRule = "halts when " + strconv.FormatFloat(rel.HaltOnFailure*100, 'f', -1, 64) + "% of a stage's updates fail, once " +
			strconv.Itoa(rel.HaltMinDevices) + " have an outcome"
	}
	var haltAt time.Time
	if d.halts != nil {
		c.Halted = d.halts.Halted(rel)
		for _, h := range halts {
			if h.Release() == rel.ID() && h.Fingerprint == rel.Fingerprint {
				hv := haltViews([]checkin.Halt{h})[0]
				c.Halt, haltAt = &hv, h.At
			}
		}
	}
	idx, percent := rel.StageAt(now)
	switch {
	case len(rel.Stages) == 0:
		c.StageNow = "no stages: every device it is for may have it"
	case idx < 0:
		c.StageNow = "not started"
	default:
		c.StageNow = stageName(idx) + " of " + strconv.Itoa(len(rel.Stages)) + ", " + strconv.FormatFloat(percent, 'f', -1, 64) + "%"
		if idx == len(rel.Stages)-1 {
			c.StageNow += " (last)"
		}
	}
	switch {
	case c.Halted:
		c.StageNow = "halted: offered to no device until resumed or changed in a commit"
	case rel.Yanked:
		c.StageNow = "yanked: offered to no device; devices on it roll back"
	case rel.Paused:
		c.StageNow = "paused in the config: offered to no device"
	}
	c.NextStage = rel.NextStage(now)
	counts := map[int]rollout.StageCounts{}
	if d.releases != nil {
		for _, s := range d.releases.ReleaseStats(rel.ID()) {
			counts[s.Stage] = s
			c.Offered += s.Offered
			c.Succeeded += s.Succeeded
			c.Failed += s.Failed
		}
	}
	c.Pending = max(c.Offered-c.Succeeded-c.Failed, 0)
	c.HasCounts = c.Offered > 0
	cohortOf := func(i int) int {
		if i < len(cohort) {
			return cohort[i]
		}
		return -1
	}
	row := func(name string, stage int, cohort int) stageRow {
		s := counts[stage]
		sr := stageRow{Name: name, Cohort: cohort, Offered: s.Offered, Succeeded: s.Succeeded, Failed: s.Failed,
			Pending: max(s.Offered-s.Succeeded-s.Failed, 0)}
		sr.Bar = newProgressBar(s.Offered, s.Succeeded, s.Failed, cohort)
		return sr
	}
	if len(rel.Stages) == 0 {
		sr := row("all devices", -1, cohortOf(0))
		sr.Percent, sr.Started, sr.Starts = 100, true, rel.IntroducedAt
		c.Stages = append(c.Stages, sr)
	}
	for i, s := range rel.Stages {
		sr := row(stageName(i), i, cohortOf(i))
		sr.Percent, sr.InForce = s.Percent, i == idx
		if !rel.IntroducedAt.IsZero() {
			sr.Starts = rel.IntroducedAt.Add(s.After)
			sr.Started = !sr.Starts.After(now)
		} else {
			sr.Started = i <= idx
		}
		c.Stages = append(c.Stages, sr)
	}
	c.Timeline = newTimeline(rel, now, haltAt)
	return c
}

// cohortCache counts, once per snapshot and platform, the whitelisted
// devices each release's stages bring in (rollout.Release.CohortStage):
// a walk over every device that is too slow to repeat per page view with
// 100,000 devices, and whose result changes only with the config.
type cohortCache struct {
	mu   sync.Mutex // guards the fields below
	snap *gitstore.Snapshot
	// counts: platform -> release -> devices per stage index; for a
	// release without stages, one count: the devices that may have it.
	counts map[string]map[rollout.ReleaseID][]int
}

func (c *cohortCache) of(snap *gitstore.Snapshot, p *rollout.Platform) map[rollout.ReleaseID][]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != snap {
		c.snap, c.counts = snap, map[string]map[rollout.ReleaseID][]int{}
	}
	if m, ok := c.counts[p.Name]; ok {
		return m
	}
	m := cohortCounts(snap.Fleet, p)
	c.counts[p.Name] = m
	return m
}

// cohortCounts walks p's devices in f once for all its releases.
func cohortCounts(f *rollout.Fleet, p *rollout.Platform) map[rollout.ReleaseID][]int {
	m := make(map[rollout.ReleaseID][]int, len(p.Releases))
	for _, r := range p.Releases {
		m[r.ID()] = make([]int, max(len(r.Stages), 1))
	}
	for _, dev := range f.Devices() {
		if !strings.EqualFold(dev.Platform, p.Name) {
			continue
		}
		for _, r := range p.Releases {
			if len(r.Stages) == 0 {
				if dev.Pin == nil && rollout.MayHave(r, dev) {
					m[r.ID()][0]++
				}
				continue
			}
			if i := r.CohortStage(dev); i >= 0 {
				m[r.ID()][i]++
			}
		}
	}
	return m
}
