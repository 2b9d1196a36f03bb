package gitstore

import (
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/rollout"
)

func TestHistoryIntroductions(t *testing.T) {
	r := testrepo.New(t)
	files := validFiles(t)
	c1 := pushFiles(r, files, "lamp 1.0.0 and 1.1.0, station 2.0.0")

	// c2: station 2.1.0 arrives.
	r.Write("fw/station-2.1.0.bin", image(t, "esp32", "station", "2.1.0"))
	station := "chip = \"esp32\"\n[[release]]\nversion = \"2.0.0\"\nfile = \"fw/station-2.0.0.bin\"\n[[release]]\nversion = \"2.1.0\"\nfile = \"fw/station-2.1.0.bin\"\n"
	r.WriteString("platforms/station.toml", station)
	c2 := r.CommitPush("station 2.1.0")
	// c3: an unrelated change.
	r.WriteString("README.md", "changed")
	r.CommitPush("readme")
	// c4: the station file is broken; c5 fixes it. Clocks must not restart.
	r.WriteString("platforms/station.toml", "chip = \n")
	r.CommitPush("broken")
	r.WriteString("platforms/station.toml", station)
	r.CommitPush("fixed")
	// c6: lamp 1.1.0 removed; c7: re-added, so its clock restarts at c7.
	lamp := "chip = \"esp8266\"\n[[release]]\nversion = \"1.0.0\"\nfile = \"fw/lamp-1.0.0.bin\"\n"
	r.WriteString("platforms/lamp.toml", lamp)
	r.CommitPush("withdraw lamp 1.1.0")
	r.WriteString("platforms/lamp.toml", lamp+"[[release]]\nversion = \"v1.1.0+rebuild\"\nfile = \"fw/lamp-1.1.0.bin\"\n")
	c7 := r.CommitPush("lamp 1.1.0 again")

	repo, err := git.PlainOpen(r.Bare)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHistory()
	for round := range 2 { // the second round answers from the cache
		snap, probs, err := LoadCommit(repo, plumbing.NewHash(c7), config.LoadOptions{Inspector: artifact.ReadInspector{}}, nil)
		if err != nil || snap.Fleet == nil {
			t.Fatalf("load: %v %v", err, probs)
		}
		got, err := h.Introductions(repo, plumbing.NewHash(c7), snap.Fleet)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"lamp@1.0.0":    c1,
			"lamp@1.1.0":    c7,
			"station@2.0.0": c1,
			"station@2.1.0": c2,
		}
		if len(got) != len(want) {
			t.Errorf("round %d: got %d introductions, want %d: %v", round, len(got), len(want), got)
		}
		for ks, w := range want {
			platform, version, _ := strings.Cut(ks, "@")
			k, err := rollout.ParseReleaseID(platform, version)
			if err != nil {
				t.Fatal(err)
			}
			if got[k].Commit != w {
				t.Errorf("round %d: %s introduced by %.12s, want %.12s", round, k, got[k].Commit, w)
			}
			if got[k].Time.IsZero() {
				t.Errorf("round %d: %s has no time", round, k)
			}
		}
	}
}
