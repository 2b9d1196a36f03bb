package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otagit/otagit/checkin"
	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/server"
)

// TestHaltLiftedByCommit: the real server halts a release its devices
// fail to take, and a commit that changes the release lifts the halt as
// soon as it is served, in /update and in /api/status alike.
func TestHaltLiftedByCommit(t *testing.T) {
	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	lampTOML := mustRead(t, repo, "platforms/smart-lamp.toml")
	if !strings.HasSuffix(lampTOML, "file = \"firmware/smart-lamp/smart-lamp-1.1.0.bin\"\n") {
		t.Fatalf("the starter smart-lamp.toml no longer ends with release 1.1.0:\n%s", lampTOML)
	}
	repo.WriteString("platforms/smart-lamp.toml", lampTOML+"halt_on_failure = \"50%\"\nhalt_min_devices = 2\n")
	first := repo.CommitPush("smart-lamp 1.1.0 halts at 50% failures")
	// Lamps that poll a minute apart: check-ins closer than
	// checkin.DefaultAttemptGap are one failed attempt, not several.
	var mu sync.Mutex
	now := time.Now()
	ts := startServer(t, repo.Bare, slog.New(slog.NewTextHandler(io.Discard, nil)), func(c *server.Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	waitUntil(t, "first commit served", func() bool { return ts.status(t).Commit == first })

	halts := func() []checkin.Halt {
		t.Helper()
		res, err := http.Get("http://" + ts.addr + "/api/status")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var doc struct {
			Halts []checkin.Halt `json:"halts"`
		}
		if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		return doc.Halts
	}
	code := func(mac, version string) int {
		mu.Lock()
		now = now.Add(time.Minute)
		at := now
		mu.Unlock()
		res, _ := ts.deviceGet(t, "/update", esp8266(mac, version))
		// A check-in is recorded just after its answer is sent: wait for
		// it, so that the next, a "minute" later, is observed after it.
		waitUntil(t, "the check-in", func() bool { return !deviceSummary(t, ts, mac).LastSeen.Before(at) })
		return res.StatusCode
	}

	// Both lamps download 1.1.0 and come back on 1.0.0 three times (the
	// default --failure-after): 2 failures of 2.
	for _, mac := range []string{"18:FE:34:A1:00:01", "18:FE:34:A1:00:02"} {
		if got := code(mac, "1.0.0"); got != http.StatusOK {
			t.Fatalf("%s on 1.0.0: got %d, want 200", mac, got)
		}
		for range 3 {
			code(mac, "1.0.0")
		}
	}
	// A check-in is recorded just after its answer is sent: wait for the
	// last one.
	waitUntil(t, "the halt", func() bool { return len(halts()) > 0 })
	h := halts()
	if len(h) != 1 || h[0].Platform != "smart-lamp" || h[0].Version != "1.1.0" || h[0].Failed != 2 {
		t.Fatalf("halts: got %+v, want smart-lamp 1.1.0 halted after 2 failures", h)
	}
	if got := code("18:FE:34:A1:00:01", "1.0.0"); got != http.StatusNotModified {
		t.Errorf("lamp on 1.0.0 while 1.1.0 is halted: got %d, want 304", got)
	}

	// A commit changes the release (its threshold): once it is served,
	// the halt is gone.
	repo.WriteString("platforms/smart-lamp.toml", lampTOML+"halt_on_failure = \"60%\"\nhalt_min_devices = 2\n")
	second := repo.CommitPush("smart-lamp 1.1.0: halt at 60%")
	if c := ts.push(t, second); c != http.StatusAccepted {
		t.Fatalf("push webhook: got %d, want 202", c)
	}
	// The status names the commit after the snapshot is published, and
	// the halt is lifted on publishing.
	waitUntil(t, "second commit served", func() bool { return ts.status(t).Commit == second })
	if h := halts(); len(h) != 0 {
		t.Errorf("halts after the commit that changed the release: got %+v, want none", h)
	}
	if got := code("18:FE:34:A1:00:01", "1.0.0"); got != http.StatusOK {
		t.Errorf("lamp on 1.0.0 after the change: got %d, want 200", got)
	}
}
