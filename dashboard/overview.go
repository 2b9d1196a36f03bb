package dashboard

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/rollout"
)

// notice is one line of the overview's summary: what an operator should
// know first. Level is "ok", "warn" or "bad"; the text says it in words,
// so that the colour only repeats it.
type notice struct {
	Level, Label, Text string
	Link               string
}

type overviewPage struct {
	base
	Notices []notice
	// Snap is the served snapshot, nil before the first.
	Snap   *gitstore.Snapshot
	Status gitstore.Status
	// HasStatus is false when the server reports no sync status.
	HasStatus bool
	// Rejected are the errors of the rejected commit; Warnings the served
	// commit's warnings.
	Rejected, Warnings config.Problems
	Halts              []haltView
	// Recording is nil without check-ins.
	Recording *checkin.WriterStats
	Platforms []platformSummary
	// Whitelisted and Seen count devices in the config and devices that
	// checked in.
	Whitelisted, Seen int
}

// haltView is a halted release as pages show it.
type haltView struct {
	Platform, Version, Reason, Stage string
	Failed, Total                    int
	At                               time.Time
}

func haltViews(hs []checkin.Halt) []haltView {
	out := make([]haltView, 0, len(hs))
	for _, h := range hs {
		out = append(out, haltView{Platform: h.Platform, Version: h.Version, Reason: h.Reason, Stage: stageName(h.Stage),
			Failed: h.Failed, Total: h.Total, At: h.At})
	}
	return out
}

// overview answers GET /: what is served, how syncing goes, what is wrong.
func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request) {
	start, now := time.Now(), d.now()
	snap := d.snaps.Current()
	p := overviewPage{base: d.base("Overview", "overview", snap, now), Snap: snap}
	p.Refresh = true
	if d.status != nil {
		p.Status, p.HasStatus = d.status.Status(), true
	} else if snap != nil {
		p.Status = gitstore.Status{Commit: snap.Commit, Subject: snap.Subject, Author: snap.Author,
			CommitTime: snap.CommitTime, PublishedAt: snap.PublishedAt, Warnings: snap.Warnings, GitHubError: snap.GitHubError}
	}
	p.Rejected, p.Warnings = p.Status.Problems.Errors(), p.Status.Warnings
	var counts map[string][]checkin.VersionCount
	p.Halts = haltViews(d.haltList())
	if d.recording != nil {
		ws := d.recording.WriterStats()
		p.Recording = &ws
	}
	counts = d.versionCounts()
	for _, vs := range counts {
		for _, v := range vs {
			p.Seen += v.Devices
		}
	}
	if snap != nil {
		p.Whitelisted = len(snap.Fleet.Devices())
		p.Platforms = platformSummaries(snap.Fleet, counts, d.halted(), now)
	}
	p.Notices = notices(&p, now)
	d.render(w, r, http.StatusOK, "overview", p, start)
}

// notices says what is wrong, worst first, or that all is well.
func notices(p *overviewPage, now time.Time) []notice {
	var out []notice
	st := &p.Status
	if p.Snap == nil {
		out = append(out, notice{Level: "bad", Label: "Not serving", Text: "no valid commit has been loaded yet: devices get 503"})
	}
	if n := len(p.Halts); n > 0 {
		names := make([]string, 0, n)
		for _, h := range p.Halts {
			names = append(names, h.Platform+" "+h.Version)
		}
		out = append(out, notice{Level: "bad", Label: plural(n, "release") + " halted",
			Text: strings.Join(names, ", ") + ": not offered until resumed or changed", Link: "#halts"})
	}
	if st.RejectedCommit != "" {
		text := "commit " + shortHash(st.RejectedCommit) + " has " + plural(len(p.Rejected), "problem")
		if len(p.Rejected) == 0 && st.RejectedReason != "" {
			text = "commit " + shortHash(st.RejectedCommit) + ": " + st.RejectedReason
		}
		if p.Snap != nil {
			text += "; still serving " + p.Snap.ShortCommit()
		}
		out = append(out, notice{Level: "bad", Label: "Commit rejected", Text: text, Link: "#rejected"})
	} else if st.LastError != "" {
		out = append(out, notice{Level: "warn", Label: "Sync failing", Text: st.LastError + " (" + ago(st.LastErrorAt, now) + ")", Link: "#sync"})
	}
	if st.GitHubError != "" {
		out = append(out, notice{Level: "warn", Label: "GitHub degraded", Text: st.GitHubError + ": releases GitHub could not give are left out or used as last seen", Link: "#sync"})
	}
	if rec := p.Recording; rec != nil {
		if rec.Dropped > 0 || rec.Lost > 0 {
			out = append(out, notice{Level: "warn", Label: "Check-ins dropped",
				Text: count(int(rec.Dropped)) + " dropped, " + count(int(rec.Lost)) + " lost: outcomes and halts miss them", Link: "#recording"})
		}
		if rec.LastError != nil {
			out = append(out, notice{Level: "warn", Label: "Check-ins not saved", Text: rec.LastError.Error(), Link: "#recording"})
		}
	}
	if len(out) == 0 && p.Snap != nil {
		text := "serving " + p.Snap.ShortCommit()
		if !st.SyncedAt.IsZero() {
			text += ", synced " + ago(st.SyncedAt, now)
		}
		out = append(out, notice{Level: "ok", Label: "All well", Text: text})
	}
	return out
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// platformSummary is a platform in the overview's and the platform list's
// tables.
type platformSummary struct {
	Name, Chip, Description string
	Paused                  bool
	Whitelisted, Seen       int
	Releases                int
	// Newest is the newest release's version, "" without releases.
	Newest string
	// Rollout says what rolls out now, "" when nothing does.
	Rollout string
	// Halted is set when one of its releases is halted.
	Halted bool
	// Shares is the bar of versions devices run now.
	Shares shareBar
}

// platformSummaries summarises every platform of f. counts are the
// devices per version (nil without an adoption source).
func platformSummaries(f *rollout.Fleet, counts map[string][]checkin.VersionCount, halts rollout.Halts, now time.Time) []platformSummary {
	wl := whitelisted(f)
	out := make([]platformSummary, 0, len(f.Platforms()))
	for _, p := range f.Platforms() {
		out = append(out, summarize(p, wl[p.Name], counts[p.Name], halts, now))
	}
	return out
}

// whitelisted counts f's devices per platform.
func whitelisted(f *rollout.Fleet) map[string]int {
	wl := map[string]int{}
	for _, dev := range f.Devices() {
		wl[dev.Platform]++
	}
	return wl
}

// summarize summarises p, which has devices whitelisted devices and
// counts (most first) of devices per version reported.
func summarize(p *rollout.Platform, devices int, counts []checkin.VersionCount, halts rollout.Halts, now time.Time) platformSummary {
	s := platformSummary{Name: p.Name, Chip: p.Chip, Description: p.Description, Paused: p.Paused,
		Whitelisted: devices, Releases: len(p.Releases)}
	if len(p.Releases) > 0 {
		s.Newest = p.Releases[0].Version.String()
	}
	for _, v := range counts {
		s.Seen += v.Devices
	}
	s.Rollout, s.Halted = rolloutNow(p, halts, now)
	s.Shares = newShareBar(p, counts)
	return s
}

// rolloutNow says in a few words what of p rolls out at now: the newest
// staged release whose rollout is not complete, or a halt.
func rolloutNow(p *rollout.Platform, halts rollout.Halts, now time.Time) (text string, halted bool) {
	for _, r := range p.Releases {
		if halts != nil && halts.Halted(r) {
			return r.Version.String() + " halted", true
		}
	}
	if p.Paused {
		return "paused", false
	}
	for _, r := range p.Releases {
		if r.Yanked || r.Paused || len(r.Stages) == 0 {
			continue
		}
		i, percent := r.StageAt(now)
		if i == len(r.Stages)-1 && percent >= 100 {
			continue
		}
		if i < 0 {
			return r.Version.String() + ": starts " + until(r.NextStage(now), now), false
		}
		text = r.Version.String() + ": " + stageName(i) + " of " + strconv.Itoa(len(r.Stages)) + ", " + strconv.FormatFloat(percent, 'f', -1, 64) + "%"
		if next := r.NextStage(now); !next.IsZero() {
			text += ", next " + until(next, now)
		}
		return text, false
	}
	return "", false
}
