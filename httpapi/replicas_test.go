package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gorilla/mux"
	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/internal/pgtest"
	"github.com/otagit/otagit/internal/testwait"
	"github.com/otagit/otagit/rollout"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// simReplica is one server of a simulation: its tracker and its routes.
type simReplica struct {
	tr *checkin.Tracker
	r  *mux.Router
}

// simResult is what a simulation ends with, to compare runs.
type simResult struct {
	haltedHour int // -1: never
	halt       checkin.Halt
	counts     []rollout.StageCounts
	devices    []checkin.Device // LastSeen and the history hash aside
}

// replicaSim is the fleet of TestSimulatedStagedRolloutHalts (1,000
// devices, 2.0.0 in three stages, one device in ten never applies it),
// run on any number of servers.
type replicaSim struct {
	t0    time.Time
	fleet *rollout.Fleet
	devs  []*rollout.Device
	v2    *rollout.Release
}

func newReplicaSim(t *testing.T) *replicaSim {
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	art := meterArtifact(t, t.TempDir())
	v1 := &rollout.Release{Platform: "meter", Version: semver.MustParse("1.0.0"), Artifact: art, HaltMinDevices: 20, Fingerprint: "v1"}
	v2 := &rollout.Release{Platform: "meter", Version: semver.MustParse("2.0.0"), Artifact: art, IntroducedAt: t0,
		Stages:        []rollout.Stage{{Percent: 10}, {Percent: 50, After: 24 * time.Hour}, {Percent: 100, After: 72 * time.Hour}},
		HaltOnFailure: 0.05, HaltMinDevices: 20, Fingerprint: "v2"}
	fleet, devs := meterFleet(t, 0x01, 1000, v1, v2)
	return &replicaSim{t0: t0, fleet: fleet, devs: devs, v2: v2}
}

// start runs a server on store, its tracker stopped at the end of t.
func (s *replicaSim) start(t *testing.T, store checkin.Store, clock *simClock) simReplica {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tr := runTracker(t, checkin.TrackerOptions{
		Store: store, FailAfter: 3, Logger: log, Writer: checkin.WriterOptions{FlushEvery: 5 * time.Millisecond},
	})
	r := mux.NewRouter()
	New(Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Fleet: s.fleet}}, Halts: tr, Recorder: tr, Devices: tr, Releases: tr,
		Resumer: tr, Recording: tr, AdminToken: "adm1n", Logger: log, Now: clock.Now}).Register(r)
	return simReplica{tr: tr, r: r}
}

// run polls every device hourly for 96 hours, hour h through server
// h%len(reps), and calls between(h) after each hour.
func (s *replicaSim) run(t *testing.T, reps []simReplica, clock *simClock, between func(hour int)) simResult {
	running := make([]string, len(s.devs))
	for i := range running {
		running[i] = "1.0.0"
	}
	res := simResult{haltedHour: -1}
	for hour := range 96 {
		rep := reps[hour%len(reps)]
		for i, d := range s.devs {
			req := httptest.NewRequest("GET", "/update", nil)
			req.Header = esp32Headers(d.MAC.String(), running[i])
			req.RemoteAddr = fmt.Sprintf("10.0.%d.%d:40000", i>>8, i&255)
			rec := httptest.NewRecorder()
			rep.r.ServeHTTP(rec, req)
			if rec.Code == 200 && i%10 != 3 {
				running[i] = "2.0.0"
			}
		}
		if res.haltedHour < 0 && rep.tr.Halted(s.v2) {
			res.haltedHour = hour
		}
		between(hour)
		clock.Add(time.Hour)
	}
	last := reps[0].tr
	for _, h := range last.Halts() {
		if h.Kind == checkin.Stopped {
			res.halt = h
		}
	}
	res.counts = last.ReleaseStats(s.v2.ID())
	for _, d := range s.devs {
		dev, _ := last.Device(d.MAC)
		res.devices = append(res.devices, dev)
	}
	return res
}

// TestReplicasSimulation: the simulation of TestSimulatedStagedRolloutHalts
// on two replicas sharing one PostgreSQL, every device polling the other
// replica each hour, ends as on one server: the release halts in the same
// stage, in the same hour, on both replicas within 1s, with the same
// counts, and every device has the same offer and outcomes.
func TestReplicasSimulation(t *testing.T) {
	sim := newReplicaSim(t)
	clock := &simClock{now: sim.t0}
	one := sim.run(t, []simReplica{sim.start(t, checkin.NewMemory(), clock)}, clock, func(int) {})
	if one.haltedHour < 0 {
		t.Fatal("the single-server simulation never halts")
	}

	dsn := pgtest.DB(t)
	open := func() checkin.Store {
		s, err := checkin.OpenPostgres(context.Background(), checkin.PostgresOptions{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	clock2 := &simClock{now: sim.t0}
	reps := []simReplica{sim.start(t, open(), clock2), sim.start(t, open(), clock2)}
	// When each replica first has the halt, watched apart from the
	// simulation, which may be slow to look.
	var first [2]time.Time
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			for i, rep := range reps {
				if first[i].IsZero() && rep.tr.Halted(sim.v2) {
					first[i] = time.Now()
				}
			}
			select {
			case <-watchCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	two := sim.run(t, reps, clock2, func(hour int) {
		// The replica the devices poll next hour has seen this hour's
		// check-ins (as it would, an hour later) and halts.
		this, next := reps[hour%2], reps[(hour+1)%2]
		now := clock2.Now()
		testwait.For(t, fmt.Sprintf("hour %d's summaries on the other replica", hour), func() bool {
			for _, d := range sim.devs {
				if dev, ok := next.tr.Device(d.MAC); !ok || !dev.LastSeen.Equal(now) {
					return false
				}
			}
			return true
		})
		if this.tr.Halted(sim.v2) {
			testwait.For(t, "the halt on the other replica", func() bool { return next.tr.Halted(sim.v2) })
		}
	})
	stopWatch()
	<-watched
	if first[0].IsZero() || first[1].IsZero() {
		t.Fatalf("halted on the replicas at %v", first)
	}
	// The promise is < 1 s. A loaded scheduler can delay the watcher
	// itself past that, so the bound fails the test only when asked for
	// (OTAGIT_TIMING=1, as when measuring); the delay is always logged.
	d := first[1].Sub(first[0]).Abs()
	t.Logf("the halt was in force on both replicas %v apart", d)
	if d > time.Second && os.Getenv("OTAGIT_TIMING") == "1" {
		t.Errorf("the halt took %v to reach the other replica, want < 1s", d)
	}
	t.Logf("one server: halted in hour %d, stage %d, counts %+v", one.haltedHour, one.halt.Stage, one.counts)
	t.Logf("two replicas: halted in hour %d, stage %d, counts %+v", two.haltedHour, two.halt.Stage, two.counts)
	if two.haltedHour != one.haltedHour || two.halt.Stage != one.halt.Stage || two.halt.Failed != one.halt.Failed || two.halt.Total != one.halt.Total {
		t.Errorf("two replicas halted in hour %d with %+v; one server in hour %d with %+v", two.haltedHour, two.halt, one.haltedHour, one.halt)
	}
	if !reflect.DeepEqual(two.counts, one.counts) {
		t.Errorf("counts: two replicas %+v, one server %+v", two.counts, one.counts)
	}
	if other := reps[1].tr.ReleaseStats(sim.v2.ID()); !reflect.DeepEqual(other, one.counts) {
		t.Errorf("counts on the second replica %+v, one server %+v", other, one.counts)
	}
	diff := 0
	for i := range one.devices {
		a, b := one.devices[i], two.devices[i]
		if !reflect.DeepEqual(a.Offer, b.Offer) || !reflect.DeepEqual(a.Outcomes, b.Outcomes) || a.LastVersion != b.LastVersion {
			if diff++; diff <= 5 {
				t.Errorf("device %s: two replicas offer %+v outcomes %+v; one server offer %+v outcomes %+v",
					a.MAC, b.Offer, b.Outcomes, a.Offer, a.Outcomes)
			}
		}
	}
	if diff > 0 {
		t.Errorf("%d of %d devices differ", diff, len(one.devices))
	}
}
