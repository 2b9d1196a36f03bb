package plan_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/plan"
	"github.com/otagit/otagit/rollout"
)

// benchFleet is a lamp fleet of n devices with releases 1.0.0 to 1.<k-1>.0;
// extra, if set, adds a release staged 10% -> 100%.
func benchFleet(b *testing.B, n, k int, extra string) *rollout.Fleet {
	b.Helper()
	p := &rollout.Platform{Name: "lamp"}
	for i := range k {
		p.Releases = append(p.Releases, &rollout.Release{Platform: "lamp", Version: semver.MustParse(fmt.Sprintf("1.%d.0", i))})
	}
	if extra != "" {
		p.Releases = append(p.Releases, &rollout.Release{Platform: "lamp", Version: semver.MustParse(extra),
			Stages: []rollout.Stage{{Percent: 10}, {Percent: 100, After: 48 * time.Hour}}})
	}
	devices := make([]*rollout.Device, n)
	for i := range devices {
		devices[i] = &rollout.Device{MAC: rollout.MAC{0x18, 0xFE, 0x34, byte(i >> 16), byte(i >> 8), byte(i)}, Platform: "lamp"}
	}
	f, err := rollout.NewFleet([]*rollout.Platform{p}, devices)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkMake plans a staged release for 10,000 devices from five
// releases, with the devices' versions unknown (every start walked) and
// known.
func BenchmarkMake(b *testing.B) {
	const n = 10000
	base, head := benchFleet(b, n, 5, ""), benchFleet(b, n, 5, "2.0.0")
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	b.Run("unknown_versions", func(b *testing.B) {
		for b.Loop() {
			plan.Make(plan.Input{Base: base, Head: head, Now: now})
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/device")
	})
	b.Run("known_versions", func(b *testing.B) {
		v := plan.Versions{}
		for _, d := range head.Devices() {
			v[d.MAC] = "1.3.0"
		}
		for b.Loop() {
			plan.Make(plan.Input{Base: base, Head: head, Now: now, Reported: v.Reported})
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/device")
	})
}
