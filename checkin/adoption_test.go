package checkin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/otagit/otagit/rollout"
)

func vc(pairs ...any) []VersionCount {
	var out []VersionCount
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, VersionCount{Version: pairs[i].(string), Devices: pairs[i+1].(int)})
	}
	return out
}

func TestTrackerAdoption(t *testing.T) {
	store := NewMemory()
	fx := newTrackerFixture(t, store)
	h0 := fx.now // 2026-11-01 00:00, on the hour
	at := func(d time.Duration, i int, version string) {
		fx.tr.Observe(CheckIn{MAC: mac(i), At: h0.Add(d), Platform: "lamp", Version: version}, rollout.Decision{})
	}
	// Hour 0: four devices on 1.0.0 (one reports "v1.0.0").
	at(time.Minute, 0, "1.0.0")
	at(2*time.Minute, 1, "v1.0.0")
	at(3*time.Minute, 2, "1.0.0")
	at(4*time.Minute, 3, "1.0.0+build.9")
	// Hour 1: two update.
	at(time.Hour+time.Minute, 0, "1.0.0") // first of hour 1: samples hour 1
	at(time.Hour+2*time.Minute, 0, "1.1.0")
	at(time.Hour+3*time.Minute, 1, "1.1.0")
	// Hours 2 and 3: polls that change nothing: no new sample.
	at(2*time.Hour, 2, "1.0.0")
	at(3*time.Hour+time.Second, 2, "1.0.0")
	// Hour 5: one more.
	at(5*time.Hour+time.Minute, 3, "1.1.0")

	now := h0.Add(5*time.Hour + 30*time.Minute)
	got := fx.tr.Adoption("lamp", now)
	want := []AdoptionSample{
		{At: h0.Add(time.Hour), Versions: vc("1.0.0", 4)},                 // end of hour 0
		{At: h0.Add(2 * time.Hour), Versions: vc("1.0.0", 2, "1.1.0", 2)}, // end of hour 1; hours 2 to 4 changed nothing
		{At: now, Versions: vc("1.1.0", 3, "1.0.0", 1)},                   // now
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Adoption:\n got %+v\nwant %+v", got, want)
	}
	if got, want := fx.tr.VersionCounts(), map[string][]VersionCount{"lamp": vc("1.1.0", 3, "1.0.0", 1)}; !reflect.DeepEqual(got, want) {
		t.Errorf("VersionCounts: got %+v, want %+v", got, want)
	}
	if got := fx.tr.Adoption("other", now); len(got) != 0 {
		t.Errorf("Adoption of a platform nobody is on: got %+v, want none", got)
	}

	// A restart keeps the series (saved by Run as it stops) and counts
	// devices from their summaries.
	fx.stopRun()
	tr, err := NewTracker(context.Background(), TrackerOptions{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Adoption("lamp", now); !reflect.DeepEqual(got, want) {
		t.Errorf("Adoption after restart:\n got %+v\nwant %+v", got, want)
	}
	// The next hour's first check-in samples what was loaded.
	tr.Observe(CheckIn{MAC: mac(1), At: h0.Add(6 * time.Hour), Platform: "lamp", Version: "1.1.0"}, rollout.Decision{})
	got = tr.Adoption("lamp", now)
	if n := len(got); n != 4 || !got[2].At.Equal(h0.Add(6*time.Hour)) || !reflect.DeepEqual(got[2].Versions, vc("1.1.0", 3, "1.0.0", 1)) {
		t.Errorf("Adoption after restart and a check-in: got %+v", got)
	}
}

func TestAdoptionBounds(t *testing.T) {
	a := newAdoption()
	h0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// More versions than a sample names: the rest count as other.
	for i := range MaxSampleVersions + 5 {
		for range i + 1 {
			a.move(false, "", "", "p", fmt.Sprintf("1.%d.0", i))
		}
	}
	a.tick(h0)
	s := a.samples("p", h0)[0]
	if len(s.Versions) != MaxSampleVersions || s.Versions[0].Version != fmt.Sprintf("1.%d.0", MaxSampleVersions+4) {
		t.Fatalf("sample: got %d versions, first %+v; want %d, the most used first", len(s.Versions), s.Versions[0], MaxSampleVersions)
	}
	if want := 1 + 2 + 3 + 4 + 5; s.Other != want {
		t.Errorf("other: got %d, want %d", s.Other, want)
	}
	if got, want := s.Total(), (MaxSampleVersions+5)*(MaxSampleVersions+6)/2; got != want {
		t.Errorf("total: got %d, want %d", got, want)
	}
	// Changes every hour for longer than the series keeps.
	for h := range MaxAdoptionSamples + 50 {
		a.move(false, "", "", "p", "2.0.0")
		a.tick(h0.Add(time.Duration(h+1) * time.Hour))
	}
	got := a.samples("p", h0)
	if len(got) != MaxAdoptionSamples+1 { // and now
		t.Fatalf("series: got %d samples, want %d and now", len(got), MaxAdoptionSamples)
	}
	if first := got[0].At; !first.Equal(h0.Add(51 * time.Hour)) {
		t.Errorf("oldest sample: got %v, want the newest %d hours", first, MaxAdoptionSamples)
	}
}

// testAdoptionStore is the AdoptionStore contract, for stores that
// implement it.
func testAdoptionStore(t *testing.T, h storeHarness) {
	ctx := context.Background()
	s := h.open(t, 10)
	as, ok := s.(AdoptionStore)
	if !ok {
		t.Skip("the store keeps no adoption series")
	}
	zone := time.FixedZone("CET", 3600)
	lamp := []AdoptionSample{
		{At: t0.In(zone), Versions: vc("1.0.0", 3)},
		{At: t0.Add(time.Hour), Versions: vc("1.1.0", 2, "1.0.0", 1), Other: 4},
	}
	if err := as.SaveAdoption(ctx, "lamp", lamp); err != nil {
		t.Fatal(err)
	}
	if err := as.SaveAdoption(ctx, "plug", lamp[:1]); err != nil {
		t.Fatal(err)
	}
	if err := as.SaveAdoption(ctx, "plug", lamp[1:]); err != nil { // replaces
		t.Fatal(err)
	}
	if err := as.SaveAdoption(ctx, "", lamp); err == nil {
		t.Error("SaveAdoption without a platform: got nil, want an error")
	}
	s = h.reopen(t, s)
	got, err := s.(AdoptionStore).LoadAdoption(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lamp[0].At = lamp[0].At.UTC()
	want := map[string][]AdoptionSample{"lamp": lamp, "plug": lamp[1:]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadAdoption:\n got %+v\nwant %+v", got, want)
	}
	s.Close()
	if err := s.(AdoptionStore).SaveAdoption(ctx, "lamp", lamp); err != ErrClosed {
		t.Errorf("SaveAdoption after Close: got %v, want ErrClosed", err)
	}
	if _, err := s.(AdoptionStore).LoadAdoption(ctx); err != ErrClosed {
		t.Errorf("LoadAdoption after Close: got %v, want ErrClosed", err)
	}
}

// TestHourOf checks hourOf against time.Time.Truncate, on both sides of
// the Unix epoch and of an hour boundary.
func TestHourOf(t *testing.T) {
	base := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{
		base, base.Add(-time.Nanosecond), base.Add(time.Nanosecond), base.Add(59*time.Minute + 59*time.Second),
		time.Unix(0, 0), time.Unix(-1, 0), time.Unix(-3600, 0), time.Unix(-3601, 0), time.Unix(-1, 999999999),
		time.Date(1969, 7, 20, 20, 17, 40, 0, time.FixedZone("x", 5*3600+1800)),
		base.In(time.FixedZone("y", -(9*3600 + 1800))).Add(30 * time.Minute),
	} {
		if got, want := hourOf(at), at.Truncate(time.Hour).Unix(); got != want {
			t.Errorf("hourOf(%v) = %d, want %d", at, got, want)
		}
	}
}
