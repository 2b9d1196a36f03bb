package plan_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/plan"
	"github.com/otagit/otagit/rollout"
)

// TestMakeSkipsUnchangedDevicesExactly changes a few devices of many (and,
// in a second case, a platform) and checks that the plan, which skips
// devices whose entry and platform are equal in base and head, says what
// the full walk of every device (Input.All) says.
func TestMakeSkipsUnchangedDevicesExactly(t *testing.T) {
	fleet := func(touched int, staged bool) *rollout.Fleet {
		var ps []*rollout.Platform
		for _, name := range []string{"lamp", "plug"} {
			p := &rollout.Platform{Name: name}
			for i := range 3 {
				p.Releases = append(p.Releases, &rollout.Release{Platform: name, Version: semver.MustParse(fmt.Sprintf("1.%d.0", i))})
			}
			p.Releases = append(p.Releases, &rollout.Release{Platform: name, Version: semver.MustParse("2.0.0-beta.1"), Channel: rollout.Beta})
			if staged && name == "plug" {
				p.Releases = append(p.Releases, &rollout.Release{Platform: name, Version: semver.MustParse("3.0.0"),
					Stages: []rollout.Stage{{Percent: 30}, {Percent: 100, After: 48 * time.Hour}}})
			}
			ps = append(ps, p)
		}
		var ds []*rollout.Device
		for i := range 500 {
			d := &rollout.Device{MAC: rollout.MAC{0x18, 0xFE, 0x34, 0, byte(i >> 8), byte(i)}, Platform: []string{"lamp", "plug"}[i%2]}
			if i < touched {
				d.Channel = rollout.Beta
			}
			ds = append(ds, d)
		}
		f, err := rollout.NewFleet(ps, ds)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		head *rollout.Fleet
	}{{"few devices to beta", fleet(7, false)}, {"a staged release on one platform", fleet(0, true)}} {
		t.Run(c.name, func(t *testing.T) {
			in := plan.Input{Base: fleet(0, false), Head: c.head, Now: now}
			got := plan.Make(in)
			in.All = true
			full := plan.Make(in)
			var want []plan.DeviceChange
			for _, l := range full.Devices {
				if l.Kind != plan.KindUnchanged {
					want = append(want, l)
				}
			}
			if got.ChangedDevices() == 0 {
				t.Fatal("the change changes no device")
			}
			if !reflect.DeepEqual(got.Devices, want) || got.Unchanged != full.Unchanged {
				t.Errorf("skipping plan: %d lines, %d unchanged; full walk: %d lines, %d unchanged", len(got.Devices), got.Unchanged, len(want), full.Unchanged)
			}
		})
	}
}
