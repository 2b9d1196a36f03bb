package checkin

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/otagit/otagit/rollout"
)

// storeHarness opens stores for the contract every Store implementation
// must meet (testStore).
type storeHarness struct {
	// open returns a new, empty store keeping keep check-ins per device.
	open func(t *testing.T, keep int) Store
	// reopen returns a store holding s's data, closing s first if that is
	// how the implementation persists.
	reopen func(t *testing.T, s Store) Store
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

func testMAC(i int) rollout.MAC {
	return rollout.MAC{0x18, 0xFE, 0x34, byte(i >> 16), byte(i >> 8), byte(i)}
}

// sampleCheckIn is a check-in with every field set; i varies At and
// Reason.
func sampleCheckIn(mac rollout.MAC, i int) CheckIn {
	return CheckIn{
		MAC:       mac,
		At:        t0.Add(time.Duration(i) * time.Minute),
		Platform:  "smart-lamp",
		Version:   "v1.0.0",
		SketchMD5: "0123456789abcdef0123456789abcdef",
		FreeSpace: 2000000,
		ChipSize:  4194304,
		SDK:       "2.2.2-dev(38a443e)",
		Remote:    "192.0.2.7:49152",
		Status:    200,
		Decision:  "update",
		Offered:   "1.1.0",
		Reason:    fmt.Sprintf("check-in %d", i),
		Client:    "update",
	}
}

// sampleDevice is a device summary with every field set.
func sampleDevice(mac rollout.MAC, version string) Device {
	return Device{
		MAC:         mac,
		Platform:    "smart-lamp",
		FirstSeen:   t0,
		LastSeen:    t0.Add(time.Hour),
		LastVersion: version,
		LastMD5:     "0123456789abcdef0123456789abcdef",
		Offer: &Offer{
			Platform: "smart-lamp", Version: "1.2.0", MD5: "fedcba9876543210fedcba9876543210",
			FromVersion: version, Stage: 2, At: t0.Add(30 * time.Minute), Attempts: 3,
		},
		Outcomes: []Outcome{
			{Platform: "smart-lamp", Version: "1.1.0", FromVersion: "1.0.0", Stage: 1, Result: Success, At: t0.Add(-time.Hour)},
			{Platform: "smart-lamp", Version: "1.0.9", FromVersion: "1.0.0", Stage: 0, Result: Failure, At: t0.Add(-2 * time.Hour)},
		},
	}
}

func manyOutcomes(n int) []Outcome {
	out := make([]Outcome, n)
	for i := range out {
		out[i] = Outcome{Platform: "p", Version: fmt.Sprintf("1.0.%d", n-i), FromVersion: "1.0.0", Stage: i, Result: Failure, At: t0.Add(-time.Duration(i) * time.Hour)}
	}
	return out
}

func cloneDevice(d Device) Device {
	if d.Offer != nil {
		o := *d.Offer
		d.Offer = &o
	}
	d.Outcomes = slices.Clone(d.Outcomes)
	return d
}

func checkDevices(t *testing.T, what string, got, want []Device) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d devices, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("%s: device %s:\n got %+v\nwant %+v", what, want[i].MAC, got[i], want[i])
		}
	}
}

// testStore runs the Store contract against the stores h opens.
func testStore(t *testing.T, h storeHarness) {
	ctx := context.Background()
	t.Run("Adoption", func(t *testing.T) { testAdoptionStore(t, h) })

	t.Run("DevicesRoundTrip", func(t *testing.T) {
		s := h.open(t, 10)
		full := sampleDevice(testMAC(1), "1.0.0")
		capped := sampleDevice(testMAC(4), "1.0.0")
		capped.Outcomes = manyOutcomes(MaxOutcomes + 5)
		local := sampleDevice(testMAC(5), "1.0.0")
		zone := time.FixedZone("CET", 3600)
		local.FirstSeen, local.LastSeen, local.Offer.At = t0.In(zone), time.Now(), t0.In(zone)
		tests := []struct {
			name string
			in   Device
			want Device
		}{
			{"every field", full, full},
			{"no offer, no outcomes", Device{MAC: testMAC(2), Platform: "p", FirstSeen: t0, LastSeen: t0, LastVersion: "1"}, Device{MAC: testMAC(2), Platform: "p", FirstSeen: t0, LastSeen: t0, LastVersion: "1"}},
			{"zero but for the MAC", Device{MAC: testMAC(3)}, Device{MAC: testMAC(3)}},
			{"outcomes capped", capped, func() Device { d := capped; d.Outcomes = capped.Outcomes[:MaxOutcomes]; return d }()},
			{"times in UTC", local, func() Device {
				d := local
				o := *local.Offer
				d.FirstSeen, d.LastSeen, o.At = local.FirstSeen.UTC(), local.LastSeen.UTC(), o.At.UTC()
				d.Offer = &o
				return d
			}()},
			{"extreme times", Device{MAC: rollout.MAC{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, FirstSeen: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), LastSeen: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
				Device{MAC: rollout.MAC{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, FirstSeen: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), LastSeen: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}},
			{"zero MAC", Device{Platform: "p", LastVersion: "héllo\x00wörld"}, Device{Platform: "p", LastVersion: "héllo\x00wörld"}},
		}
		var in, want []Device
		for _, tt := range tests {
			in = append(in, tt.in)
			want = append(want, cloneDevice(tt.want)) // full is changed below
		}
		slices.Reverse(in) // Save order must not matter
		if err := s.Save(ctx, nil, in); err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(want, func(a, b Device) int { return compareMAC(a.MAC, b.MAC) })
		got, err := s.LoadDevices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkDevices(t, "LoadDevices", got, want)

		// The store keeps copies: changing what was saved or loaded
		// changes nothing stored.
		full.Offer.Version = "changed"
		full.Outcomes[0].Version = "changed"
		for i := range got {
			for j := range got[i].Outcomes {
				got[i].Outcomes[j].Version = "changed"
			}
		}
		again, err := s.LoadDevices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkDevices(t, "after changing saved and loaded values", again, want)
	})

	t.Run("DevicesReplace", func(t *testing.T) {
		s := h.open(t, 10)
		m := testMAC(1)
		if err := s.Save(ctx, nil, []Device{sampleDevice(m, "1.0.0")}); err != nil {
			t.Fatal(err)
		}
		second, third := sampleDevice(m, "2.0.0"), sampleDevice(m, "3.0.0")
		third.Offer = nil
		if err := s.Save(ctx, nil, []Device{second, third}); err != nil {
			t.Fatal(err)
		}
		got, err := s.LoadDevices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []Device{third}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v (the last summary saved)", got, want)
		}
	})

	t.Run("CheckInsRoundTrip", func(t *testing.T) {
		s := h.open(t, 10)
		local := sampleCheckIn(testMAC(3), 0)
		local.At = time.Now().In(time.FixedZone("X", -7*3600))
		tests := []struct {
			name string
			in   CheckIn
			want CheckIn
		}{
			{"every field", sampleCheckIn(testMAC(1), 1), sampleCheckIn(testMAC(1), 1)},
			{"headers not sent", CheckIn{MAC: testMAC(2), At: t0, Version: "1.0", FreeSpace: -1, ChipSize: -1, Status: 304, Decision: "up_to_date"},
				CheckIn{MAC: testMAC(2), At: t0, Version: "1.0", FreeSpace: -1, ChipSize: -1, Status: 304, Decision: "up_to_date"}},
			{"local time", local, func() CheckIn { c := local; c.At = c.At.UTC(); return c }()},
			{"zero time and MAC", CheckIn{Status: 400, Reason: "no MAC"}, CheckIn{Status: 400, Reason: "no MAC"}},
			{"before 1678", CheckIn{MAC: testMAC(4), At: time.Date(1000, 1, 1, 0, 0, 0, 5, time.UTC)}, CheckIn{MAC: testMAC(4), At: time.Date(1000, 1, 1, 0, 0, 0, 5, time.UTC)}},
			{"after 2262", CheckIn{MAC: testMAC(5), At: time.Date(3000, 1, 1, 0, 0, 0, 5, time.UTC)}, CheckIn{MAC: testMAC(5), At: time.Date(3000, 1, 1, 0, 0, 0, 5, time.UTC)}},
			{"max MAC, odd bytes", CheckIn{MAC: rollout.MAC{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, At: t0, Version: "\xff\x00v1", FreeSpace: 1 << 62, Status: -1},
				CheckIn{MAC: rollout.MAC{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, At: t0, Version: "\xff\x00v1", FreeSpace: 1 << 62, Status: -1}},
		}
		for _, tt := range tests {
			if err := s.Save(ctx, []CheckIn{tt.in}, nil); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
		}
		for _, tt := range tests {
			got, err := s.History(ctx, tt.in.MAC, 0)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if want := []CheckIn{tt.want}; !reflect.DeepEqual(got, want) {
				t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, want)
			}
		}
	})

	t.Run("HistoryOrderAndLimit", func(t *testing.T) {
		s := h.open(t, 100)
		// The device and its neighbours in key order, including the
		// extremes, so that no scan strays into another device's range.
		m := testMAC(0x0200)
		neighbours := []rollout.MAC{testMAC(0x01FF), testMAC(0x0201), {}, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}}
		for _, n := range neighbours {
			if err := s.Save(ctx, []CheckIn{sampleCheckIn(n, 0), sampleCheckIn(n, 100)}, nil); err != nil {
				t.Fatal(err)
			}
		}
		// Saved out of time order and in several Saves; check-ins 3a and
		// 3b have the same At and must keep the order they were saved in.
		at := func(i int, reason string) CheckIn { c := sampleCheckIn(m, i); c.Reason = reason; return c }
		saves := [][]CheckIn{
			{at(2, "2"), at(0, "0")},
			{at(5, "5"), at(3, "3a"), at(3, "3b")},
			{at(1, "1"), at(4, "4")},
		}
		for _, cs := range saves {
			if err := s.Save(ctx, cs, nil); err != nil {
				t.Fatal(err)
			}
		}
		all := []string{"5", "4", "3b", "3a", "2", "1", "0"}
		tests := []struct {
			limit int
			want  []string
		}{
			{0, all}, {-1, all}, {1, all[:1]}, {3, all[:3]}, {7, all}, {100, all},
		}
		for _, tt := range tests {
			got, err := s.History(ctx, m, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var reasons []string
			for _, c := range got {
				if c.MAC != m {
					t.Fatalf("limit %d: got a check-in of %s, want only %s", tt.limit, c.MAC, m)
				}
				reasons = append(reasons, c.Reason)
			}
			if !slices.Equal(reasons, tt.want) {
				t.Errorf("limit %d: got %q, want %q", tt.limit, reasons, tt.want)
			}
		}
		for _, n := range neighbours {
			got, err := s.History(ctx, n, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].MAC != n || got[0].Reason != "check-in 100" {
				t.Errorf("neighbour %s: got %+v, want its own 2 check-ins, newest first", n, got)
			}
		}
		got, err := s.History(ctx, testMAC(0x0300), 0)
		if err != nil || len(got) != 0 {
			t.Errorf("unknown MAC: got %v, %v; want no check-ins, no error", got, err)
		}
	})

	t.Run("Prune", func(t *testing.T) {
		const keep = 5
		reasons := func(cs []CheckIn) []string {
			var out []string
			for _, c := range cs {
				out = append(out, c.Reason)
			}
			return out
		}
		batch := func(from, to int) []CheckIn {
			var out []CheckIn
			for i := from; i < to; i++ {
				out = append(out, sampleCheckIn(testMAC(1), i))
			}
			return out
		}
		newest := reasons(batch(7, 12))
		slices.Reverse(newest)
		tests := []struct {
			name  string
			saves [][]CheckIn
			want  []string
		}{
			{"one save", [][]CheckIn{batch(0, 12)}, newest},
			{"one by one", func() (out [][]CheckIn) {
				for i := range 12 {
					out = append(out, batch(i, i+1))
				}
				return out
			}(), newest},
			{"older saved last is pruned at once", [][]CheckIn{batch(7, 12), batch(0, 1)}, newest},
			{"fewer than keep", [][]CheckIn{batch(0, 3)}, []string{"check-in 2", "check-in 1", "check-in 0"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := h.open(t, keep)
				other := []CheckIn{sampleCheckIn(testMAC(0), 0), sampleCheckIn(testMAC(2), 0)}
				if err := s.Save(ctx, other, nil); err != nil {
					t.Fatal(err)
				}
				for _, cs := range tt.saves {
					if err := s.Save(ctx, cs, nil); err != nil {
						t.Fatal(err)
					}
				}
				got, err := s.History(ctx, testMAC(1), 0)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(reasons(got), tt.want) {
					t.Errorf("got %q, want %q", reasons(got), tt.want)
				}
				for _, c := range other {
					if got, err := s.History(ctx, c.MAC, 0); err != nil || len(got) != 1 {
						t.Errorf("other device %s: got %d check-ins, %v; want 1", c.MAC, len(got), err)
					}
				}
			})
		}
	})

	t.Run("Halts", func(t *testing.T) {
		s := h.open(t, 10)
		halt := func(p, v, reason string) Halt {
			return Halt{Platform: p, Version: v, Fingerprint: "sha256:" + p + v, Stage: 1, Failed: 3, Total: 10, Reason: reason, At: t0}
		}
		for _, hh := range []Halt{halt("b", "2.0.0", ""), halt("a", "1.0.0", "old"), halt("a", "0.9.0", ""), halt("ab", "0.1.0", ""), halt("a", "1.0.0", "new")} {
			if err := s.PutHalt(ctx, hh); err != nil {
				t.Fatal(err)
			}
		}
		check := func(step string, want []Halt) {
			t.Helper()
			got, err := s.Halts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 && len(want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s:\n got %+v\nwant %+v", step, got, want)
			}
		}
		check("after put", []Halt{halt("a", "0.9.0", ""), halt("a", "1.0.0", "new"), halt("ab", "0.1.0", ""), halt("b", "2.0.0", "")})
		for _, del := range [][2]string{{"a", "0.9.0"}, {"a", "0.9.0"}, {"nope", "1.0.0"}, {"", ""}} {
			if err := s.DeleteHalt(ctx, del[0], del[1]); err != nil {
				t.Errorf("DeleteHalt(%q, %q): %v", del[0], del[1], err)
			}
		}
		check("after delete", []Halt{halt("a", "1.0.0", "new"), halt("ab", "0.1.0", ""), halt("b", "2.0.0", "")})
		for _, hh := range []Halt{halt("ab", "0.1.0", ""), halt("a", "1.0.0", ""), halt("b", "2.0.0", "")} {
			if err := s.DeleteHalt(ctx, hh.Platform, hh.Version); err != nil {
				t.Fatal(err)
			}
		}
		check("after deleting all", nil)

		invalid := []Halt{
			{Version: "1.0.0"},
			{Platform: "a"},
			{Platform: "a\x00b", Version: "1.0.0"},
			{Platform: "a", Version: string(make([]byte, maxHaltKey))},
			{Platform: "a", Version: "1.0.0", Stage: -2},
			{Platform: "a", Version: "1.0.0", Kind: CountsReset, Stage: 1},
			{Platform: "a", Version: "1.0.0", Kind: CountsReset + 1},
		}
		for _, hh := range invalid {
			if err := s.PutHalt(ctx, hh); !errors.Is(err, ErrInvalidHalt) {
				t.Errorf("PutHalt(%.20q, %.20q): got %v, want ErrInvalidHalt", hh.Platform, hh.Version, err)
			}
		}
		check("after invalid puts", nil)

		reset := Halt{Platform: "a", Version: "1.0.0", Kind: CountsReset, Fingerprint: "f", Reason: "resumed", At: t0}
		if err := s.PutHalt(ctx, reset); err != nil {
			t.Fatal(err)
		}
		check("after a reset", []Halt{reset})
	})

	t.Run("Reopen", func(t *testing.T) {
		s := h.open(t, 10)
		devices := []Device{sampleDevice(testMAC(1), "1.0.0"), sampleDevice(testMAC(2), "1.0.0")}
		checkins := []CheckIn{sampleCheckIn(testMAC(1), 0), sampleCheckIn(testMAC(1), 1)}
		halt := Halt{Platform: "a", Version: "1.0.0", At: t0}
		if err := s.Save(ctx, checkins, devices); err != nil {
			t.Fatal(err)
		}
		if err := s.PutHalt(ctx, halt); err != nil {
			t.Fatal(err)
		}
		s = h.reopen(t, s)
		gotD, err := s.LoadDevices(ctx)
		if err != nil || !reflect.DeepEqual(gotD, devices) {
			t.Errorf("devices: got %+v, %v; want %+v", gotD, err, devices)
		}
		gotC, err := s.History(ctx, testMAC(1), 0)
		if want := []CheckIn{checkins[1], checkins[0]}; err != nil || !reflect.DeepEqual(gotC, want) {
			t.Errorf("history: got %+v, %v; want %+v", gotC, err, want)
		}
		gotH, err := s.Halts(ctx)
		if want := []Halt{halt}; err != nil || !reflect.DeepEqual(gotH, want) {
			t.Errorf("halts: got %+v, %v; want %+v", gotH, err, want)
		}
		// The sequence survives too: a check-in saved now with an equal
		// At sorts after the ones saved before.
		late := checkins[1]
		late.Reason = "after reopen"
		if err := s.Save(ctx, []CheckIn{late}, nil); err != nil {
			t.Fatal(err)
		}
		gotC, err = s.History(ctx, testMAC(1), 1)
		if err != nil || len(gotC) != 1 || gotC[0].Reason != "after reopen" {
			t.Errorf("after reopen: got %+v, %v; want the check-in saved last first", gotC, err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		const writers, saves, perSave = 4, 30, 5
		s := h.open(t, writers*saves*perSave)
		shared := testMAC(0xFFFF)
		var wg sync.WaitGroup
		done := make(chan struct{})
		for w := range writers {
			wg.Go(func() {
				for i := range saves {
					var cs []CheckIn
					for j := range perSave {
						cs = append(cs, sampleCheckIn(testMAC(w), i*perSave+j), sampleCheckIn(shared, i))
					}
					if err := s.Save(ctx, cs, []Device{sampleDevice(testMAC(w), fmt.Sprint(i)), sampleDevice(shared, "x")}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		var readers sync.WaitGroup
		for r := range 3 {
			readers.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					var err error
					switch r {
					case 0:
						_, err = s.History(ctx, shared, 10)
					case 1:
						_, err = s.LoadDevices(ctx)
					case 2:
						if err = s.PutHalt(ctx, Halt{Platform: "p", Version: "1", At: t0}); err == nil {
							_, err = s.Halts(ctx)
						}
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(done)
		readers.Wait()
		for w := range writers {
			got, err := s.History(ctx, testMAC(w), 0)
			if err != nil || len(got) != saves*perSave {
				t.Errorf("writer %d: got %d check-ins, %v; want %d", w, len(got), err, saves*perSave)
			}
		}
		got, err := s.History(ctx, shared, 0)
		if err != nil || len(got) != writers*saves*perSave {
			t.Errorf("shared device: got %d check-ins, %v; want %d", len(got), err, writers*saves*perSave)
		}
		devices, err := s.LoadDevices(ctx)
		if err != nil || len(devices) != writers+1 {
			t.Errorf("devices: got %d, %v; want %d", len(devices), err, writers+1)
		}
		for _, d := range devices {
			if d.MAC != shared && d.LastVersion != fmt.Sprint(saves-1) {
				t.Errorf("device %s: got LastVersion %q, want %q (the last saved)", d.MAC, d.LastVersion, fmt.Sprint(saves-1))
			}
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		s := h.open(t, 10)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		calls := map[string]error{
			"Save":       s.Save(cctx, []CheckIn{sampleCheckIn(testMAC(1), 0)}, []Device{sampleDevice(testMAC(1), "1")}),
			"PutHalt":    s.PutHalt(cctx, Halt{Platform: "a", Version: "1"}),
			"DeleteHalt": s.DeleteHalt(cctx, "a", "1"),
		}
		_, calls["LoadDevices"] = s.LoadDevices(cctx)
		_, calls["History"] = s.History(cctx, testMAC(1), 0)
		_, calls["Halts"] = s.Halts(cctx)
		for name, err := range calls {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: got %v, want context.Canceled", name, err)
			}
		}
		if got, _ := s.History(ctx, testMAC(1), 0); len(got) != 0 {
			t.Errorf("a cancelled Save wrote %d check-ins", len(got))
		}
	})

	t.Run("Closed", func(t *testing.T) {
		s := h.open(t, 10)
		for i, want := range []error{nil, nil} {
			if err := s.Close(); err != want {
				t.Fatalf("Close #%d: got %v, want %v", i+1, err, want)
			}
		}
		calls := map[string]error{
			"Save":       s.Save(ctx, []CheckIn{sampleCheckIn(testMAC(1), 0)}, nil),
			"PutHalt":    s.PutHalt(ctx, Halt{Platform: "a", Version: "1"}),
			"DeleteHalt": s.DeleteHalt(ctx, "a", "1"),
		}
		_, calls["LoadDevices"] = s.LoadDevices(ctx)
		_, calls["History"] = s.History(ctx, testMAC(1), 0)
		_, calls["Halts"] = s.Halts(ctx)
		for name, err := range calls {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("%s: got %v, want ErrClosed", name, err)
			}
		}
	})
}

// TestBoltMatchesMemory saves the same random batches (devices repeated
// within a batch, times out of order and equal) to a Bolt and a Memory and
// checks that they answer alike throughout.
func TestBoltMatchesMemory(t *testing.T) {
	ctx := context.Background()
	const keep, macs = 7, 12
	bolt := openTestBolt(t, filepath.Join(t.TempDir(), "checkins.db"), keep)
	mem := NewMemoryKeep(keep)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var cs []CheckIn
		var ds []Device
		for range rng.IntN(20) {
			m := testMAC(rng.IntN(macs))
			c := sampleCheckIn(m, rng.IntN(40)) // 40 distinct times: many equal
			c.Reason = fmt.Sprint(round, len(cs))
			cs = append(cs, c)
			if rng.IntN(3) == 0 {
				ds = append(ds, sampleDevice(m, c.Reason))
			}
		}
		for _, s := range []Store{bolt, mem} {
			if err := s.Save(ctx, cs, ds); err != nil {
				t.Fatal(err)
			}
		}
		for i := range macs {
			limit := rng.IntN(keep + 2)
			got, err := bolt.History(ctx, testMAC(i), limit)
			if err != nil {
				t.Fatal(err)
			}
			want, err := mem.History(ctx, testMAC(i), limit)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d, MAC %d, limit %d:\n bolt   %+v\n memory %+v", round, i, limit, got, want)
			}
		}
	}
	got, err := bolt.LoadDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := mem.LoadDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkDevices(t, "LoadDevices", got, want)
}
