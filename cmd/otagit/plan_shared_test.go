package main

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/plan"
)

// lampWhitelist is a whitelist of n smart lamps from MAC prefix p, every
// third in group "shared" (defined in devices/groups.toml).
func lampWhitelist(p byte, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[[device]]\nmac = \"24:0A:%02X:00:%02X:%02X\"\nplatform = \"smart-lamp\"\nname = \"lamp %d-%d\"\n", p, i>>8&0xFF, i&0xFF, p, i)
		if i%3 == 0 {
			b.WriteString("groups = [\"shared\"]\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestPlanSharedParseIsFullLoad: `otagit plan`, which loads the head
// with what it parsed of the base, writes byte for byte the plan of two
// full loads. The change pins a group defined in one file whose devices
// are in others (unchanged, so taken from the base's parse), and adds
// devices to one of those.
func TestPlanSharedParseIsFullLoad(t *testing.T) {
	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	for i := range 4 {
		repo.WriteString(fmt.Sprintf("devices/lamps-%d.toml", i), lampWhitelist(byte(i), 600))
	}
	repo.WriteString("devices/groups.toml", "[[group]]\nname = \"shared\"\nchannel = \"beta\"\n")
	base := repo.Commit("2,400 lamps")
	repo.WriteString("devices/groups.toml", "[[group]]\nname = \"shared\"\npin = \"1.0.0\"\n")
	repo.WriteString("devices/lamps-3.toml", lampWhitelist(3, 610))
	head := repo.Commit("pin the shared group; 10 more lamps")

	r, err := git.PlainOpen(repo.Work)
	if err != nil {
		t.Fatal(err)
	}
	full := func(rev string) (*gitstore.Snapshot, config.Problems) {
		snap, probs, err := gitstore.LoadCommit(r, plumbing.NewHash(rev), config.LoadOptions{Inspector: artifact.ReadInspector{}}, nil)
		if err != nil || snap.Fleet == nil {
			t.Fatalf("load %s: %v %v", rev, err, probs)
		}
		return snap, probs
	}
	bs, _ := full(base)
	hs, hp := full(head)
	for _, all := range []bool{false, true} {
		in := plan.Input{Now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), All: all}
		want := plan.FromSnapshots(bs, hs, hp, in)
		got, err := planRevisions(context.Background(), r, base, head, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		var g, w bytes.Buffer
		if err := plan.WriteMarkdown(&g, got.Header, &got.Plan); err != nil {
			t.Fatal(err)
		}
		if err := plan.WriteMarkdown(&w, want.Header, &want.Plan); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(g.Bytes(), w.Bytes()) {
			t.Errorf("All %v: the plan differs from the plan of two full loads:\n%s\nwant:\n%s", all, g.String(), w.String())
		}
		// Pinned lamps go back to 1.0.0: the change shows.
		if want.Plan.ChangedDevices() < 800 {
			t.Errorf("All %v: %d devices change, want the 800 pinned ones at least", all, want.Plan.ChangedDevices())
		}
	}
}

// BenchmarkPlan1MDevices plans, as `otagit plan` does, a change that moves
// 1,000 of 1,000,000 whitelisted devices (100 files of 10,000) to the
// beta channel: both loads and the plan, from an open repository. It
// reports the memory the Go runtime obtained from the OS (its peak).
//
//	go test ./cmd/otagit -run '^$' -bench Plan1MDevices -benchtime 3x
func BenchmarkPlan1MDevices(b *testing.B) {
	const files, per = 100, 10000
	repo := testrepo.New(b)
	repo.WriteFS(repotemplate.FS())
	for i := range files {
		repo.WriteString(fmt.Sprintf("devices/load-%03d.toml", i), lampWhitelist(byte(i), per))
	}
	base := repo.Commit("1,000,000 devices")
	first := lampWhitelist(0, per)
	var moved strings.Builder
	n := 0
	for _, line := range strings.SplitAfter(first, "\n") {
		moved.WriteString(line)
		if strings.HasPrefix(line, "name = ") && n < 1000 {
			moved.WriteString("channel = \"beta\"\n")
			n++
		}
	}
	repo.WriteString("devices/load-000.toml", moved.String())
	head := repo.Commit("1,000 devices to beta")
	r, err := git.PlainOpen(repo.Work)
	if err != nil {
		b.Fatal(err)
	}
	in := plan.Input{Now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	var res *plan.Result
	var ms runtime.MemStats
	for b.Loop() {
		res, err = planRevisions(context.Background(), r, base, head, in, nil)
		if err != nil || !res.Valid() {
			b.Fatal(err, res.Header.HeadProblems)
		}
		b.StopTimer()
		runtime.ReadMemStats(&ms)
		b.StartTimer()
	}
	if got := len(res.Plan.Changed); got != 1000 {
		b.Fatalf("%d whitelist entries changed, want 1000", got)
	}
	b.ReportMetric(float64(ms.Sys)/(1<<20), "MB-sys")
}
