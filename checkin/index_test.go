package checkin

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/otagit/otagit/rollout"
)

func TestTrackerIndexAndPage(t *testing.T) {
	store := NewMemory()
	fx := newTrackerFixture(t, store)
	// Devices join in a shuffled order; some update, some fail, some are
	// offered nothing new.
	order := rand.New(rand.NewPCG(1, 2)).Perm(10)
	for _, i := range order[:6] {
		fx.checkIn(i, "1.0.0", "")
	}
	if got := fx.tr.Index(); !slices.IsSortedFunc(got, compareMAC) || len(got) != 6 {
		t.Fatalf("Index after 6 devices: got %v, want 6 sorted MACs", got)
	}
	for _, i := range order[6:] {
		fx.checkIn(i, "1.1.0", "")
	}
	fx.checkIn(order[0], "1.1.0", "") // success
	fx.checkIn(order[1], "1.0.0", "")
	fx.checkIn(order[1], "1.0.0", "") // failure (FailAfter 2)

	idx := fx.tr.Index()
	if len(idx) != 10 || !slices.IsSortedFunc(idx, compareMAC) {
		t.Fatalf("Index: got %v, want 10 sorted MACs", idx)
	}
	for _, f := range []Filter{{}, {Version: "v1.1.0"}, {Version: "1.0.0"}, {Outcome: "success"}, {Outcome: "failure"},
		{Outcome: "pending"}, {Outcome: "none"}, {Platform: "LAMP", Version: "1.1.0+build.7"}, {Platform: "other"}} {
		all := fx.tr.Devices(f)
		for _, win := range [][2]int{{0, 100}, {0, 3}, {3, 3}, {len(all) - 1, 5}, {len(all) + 2, 5}} {
			page, total := fx.tr.Page(f, win[0], win[1])
			if total != len(all) {
				t.Errorf("Page(%+v, %d, %d): total %d, want %d", f, win[0], win[1], total, len(all))
			}
			lo, hi := min(max(win[0], 0), len(all)), min(win[0]+win[1], len(all))
			checkDevices(t, "page", page, all[lo:hi])
		}
	}
	if _, total := fx.tr.Page(Filter{Outcome: "success"}, 0, 10); total != 1 {
		t.Errorf("successes: got %d, want 1", total)
	}
	if _, total := fx.tr.Page(Filter{Version: "1.1.0"}, 0, 10); total != 5 {
		t.Errorf("devices on 1.1.0: got %d, want 5 (4 joined on it, 1 updated)", total)
	}

	// A restart builds the index from the store.
	fx.stopRun()
	tr, err := NewTracker(context.Background(), TrackerOptions{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Index(); !slices.Equal(got, idx) {
		t.Errorf("Index after restart: got %v, want %v", got, idx)
	}
	m := Filter{Outcome: "failure"}.Matcher()
	if ok, seen := tr.Match(mac(order[1]), m); !ok || !seen {
		t.Errorf("Match(failed device): got %v, %v; want true, true", ok, seen)
	}
	if ok, seen := tr.Match(mac(99), m); ok || seen {
		t.Errorf("Match(unknown device): got %v, %v; want false, false", ok, seen)
	}
}

// TestTrackerPageCopiesOnlyThePage checks that a page of 10,000 devices
// allocates for the page, not for every device.
func TestTrackerPageCopiesOnlyThePage(t *testing.T) {
	if raceDetector {
		t.Skip("allocation counts differ under the race detector")
	}
	fx := newTrackerFixture(t, NewMemory())
	at := fx.now
	for i := range 10000 {
		m := mac(0)
		m[3], m[4], m[5] = byte(i>>16), byte(i>>8), byte(i)
		fx.tr.Observe(CheckIn{MAC: m, At: at, Platform: "lamp", Version: "1.1.0"}, rollout.Decision{})
	}
	fx.tr.Index() // merge the joined devices once
	// Stop the writer first: AllocsPerRun counts every goroutine's
	// allocations, and saving the 10,000 check-ins would be counted too.
	fx.stopRun()
	allocs := testing.AllocsPerRun(5, func() {
		if page, total := fx.tr.Page(Filter{Version: "1.1.0"}, 5000, 20); len(page) != 20 || total != 10000 {
			t.Fatalf("got %d devices of %d", len(page), total)
		}
	})
	if allocs > 40 {
		t.Errorf("Page allocates %.0f times for 20 of 10,000 devices; want it to copy only the page", allocs)
	}
}
