package dashboard

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkPages100k renders each page for a fleet of 100,000 devices
// (80,000 lamps, 20,000 plugs) that all checked in through a staged
// rollout, the work a page view costs the server (the acceptance goal is
// under 200 ms a page):
//
//	go test ./dashboard -run '^$' -bench Pages100k -benchtime 20x
func BenchmarkPages100k(b *testing.B) {
	fx := newFixture(b, 80_000, 20_000)
	fx.simulate(t0.Add(60*time.Hour), 12*time.Hour)
	fx.settle()
	last := fx.devs[len(fx.devs)-1].MAC.String()
	pages := []struct{ name, target string }{
		{"overview", "/"},
		{"platforms", "/ui/platforms"},
		{"platform", "/ui/platforms/lamp"},
		{"devices", "/ui/devices"},
		{"devices-last-page", "/ui/devices?page=2000"},
		{"devices-version", "/ui/devices?version=1.1.0&page=100"},
		{"devices-failed-lamps", "/ui/devices?platform=lamp&outcome=failure"},
		{"devices-search-name", "/ui/devices?q=plug+99"},
		{"devices-search-mac", "/ui/devices?q=" + last[9:]},
		{"device", "/ui/devices/" + last},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, p.target, nil)
			fx.get(p.target) // the first view of a snapshot counts cohorts
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				fx.router.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d", p.target, w.Code)
				}
			}
		})
	}
	b.Run("platform-first-view", func(b *testing.B) {
		// A new snapshot: the cohort counts are made again.
		for b.Loop() {
			fx.dash.cohorts.mu.Lock()
			fx.dash.cohorts.snap = nil
			fx.dash.cohorts.mu.Unlock()
			fx.get("/ui/platforms/lamp")
		}
	})
}
