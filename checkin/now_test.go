package checkin

import (
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/rollout"
)

func TestDecideNow(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r10 := &rollout.Release{Platform: "lamp", Version: semver.MustParse("1.0.0"), Artifact: rollout.Artifact{MD5: "md5-10", Size: 1000}}
	r11 := &rollout.Release{Platform: "lamp", Version: semver.MustParse("1.1.0"), Artifact: rollout.Artifact{MD5: "md5-11", Size: 500_000}}
	dev := &rollout.Device{MAC: mac(1), Platform: "lamp"}
	f, err := rollout.NewFleet([]*rollout.Platform{{Name: "lamp", Releases: []*rollout.Release{r10, r11}}}, []*rollout.Device{dev})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		sum         *Device
		last        *CheckIn
		outcome     rollout.Outcome
		reason      string
		assumesPart string
	}{
		{"on 1.0.0", &Device{LastVersion: "1.0.0"}, nil, rollout.Update, "running 1.0.0", "version 1.0.0"},
		{"runs 1.1.0's image", &Device{LastVersion: "1.0.0", LastMD5: "md5-11"}, nil, rollout.UpToDate, "already runs 1.1.0", "version 1.0.0"},
		{"too little room, as last reported", &Device{LastVersion: "1.0.0"}, &CheckIn{FreeSpace: 100_000, ChipSize: -1}, rollout.UpToDate, "image 500.0 kB > free 100.0 kB", "version 1.0.0"},
		{"headers not sent", &Device{LastVersion: "1.0.0"}, &CheckIn{FreeSpace: -1, ChipSize: -1}, rollout.Update, "running 1.0.0", "version 1.0.0"},
	}
	// A device never seen runs a version nobody knows: no decision is
	// made, rather than one for a guessed 0.0.0.
	if got := DecideNow(f, dev, nil, nil, now, nil); got.Known || got.Outcome != 0 || got.Assumes != Unknown {
		t.Errorf("never seen: got %+v, want no decision", got)
	}
	for _, tt := range tests {
		got := DecideNow(f, dev, tt.sum, tt.last, now, nil)
		if !got.Known || got.Outcome != tt.outcome || !strings.Contains(got.Reason(), tt.reason) || !strings.Contains(got.Assumes, tt.assumesPart) {
			t.Errorf("%s: got %v %q (assumes %q), want %v %q", tt.name, got.Outcome, got.Reason(), got.Assumes, tt.outcome, tt.reason)
		}
	}
}
