package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/otagit/otagit/internal/pgtest"
	"github.com/otagit/otagit/internal/testwait"
)

// recording reads /api/status's recording section from addr.
func recording(t *testing.T, addr string) (queued int, saved uint64, loaded bool, reachable *bool) {
	t.Helper()
	res, err := http.Get("http://" + addr + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Recording struct {
			Queued int    `json:"queued"`
			Saved  uint64 `json:"saved"`
			Store  struct {
				Loaded    bool  `json:"loaded"`
				Reachable *bool `json:"reachable"`
			} `json:"store"`
		} `json:"recording"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	r := doc.Recording
	return r.Queued, r.Saved, r.Store.Loaded, r.Store.Reachable
}

// storeUp reads otagit_checkin_store_up from addr's /metrics.
func storeUp(t *testing.T, addr string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "otagit_checkin_store_up "); ok {
			return v
		}
	}
	return "absent"
}

// TestStartsWithPostgresDown: a server whose PostgreSQL is down starts
// and answers devices from the snapshot; /api/status and /metrics show
// the store unreachable and the check-ins queued. Once the database
// starts, the server connects by itself and saves them.
func TestStartsWithPostgresDown(t *testing.T) {
	pg := pgtest.New(t)
	dsn := pg.NewDB(t)
	pg.Stop()
	repo, commit := starter(t, 4096)
	srv := start(t, repo.Bare, func(c *Config) { c.StoreDSN = dsn })
	addr := srv.addrs[0]
	waitServing(t, addr, commit)
	for _, v := range []string{"1.2.0", "1.3.0", "2.0.0"} {
		if got := pollRaw(t, addr, lampRequest("18:FE:34:A1:00:01", v)); got != http.StatusNotModified {
			t.Fatalf("with the database down, version %s: %d, want 304", v, got)
		}
	}
	testwait.For(t, "the store shown unreachable", func() bool {
		_, _, _, reachable := recording(t, addr)
		return reachable != nil && !*reachable
	})
	if queued, saved, loaded, _ := recording(t, addr); queued != 3 || saved != 0 || loaded {
		t.Errorf("with the database down: %d queued, %d saved, loaded %v; want 3, 0, false", queued, saved, loaded)
	}
	if v := storeUp(t, addr); v != "0" {
		t.Errorf("otagit_checkin_store_up with the database down: %s, want 0", v)
	}

	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the check-ins saved", func() bool {
		queued, saved, loaded, reachable := recording(t, addr)
		return loaded && reachable != nil && *reachable && queued == 0 && saved == 3
	})
	if v := storeUp(t, addr); v != "1" {
		t.Errorf("otagit_checkin_store_up with the database back: %s, want 1", v)
	}
}
