package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/gitstore"
)

// TestReadWrapsTheReadAPI: Config.Read guards what lists devices and
// nothing devices need.
func TestReadWrapsTheReadAPI(t *testing.T) {
	fleet := testFleet(t, t.TempDir(), 4096)
	tracker, err := checkin.NewTracker(t.Context(), checkin.TrackerOptions{Store: checkin.NewMemory(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Fleet: fleet}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Read: func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
		}}
	cfg.UseTracker(tracker)
	r := mux.NewRouter()
	New(cfg).Register(r)
	for _, tt := range []struct {
		target  string
		guarded bool
	}{
		{"/api/devices", true},
		{"/api/devices/18:FE:34:00:00:01", true},
		{"/api/releases/lamp/1.1.0", true},
		{"/healthz", false},
		{"/update", false},
	} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, tt.target, nil)
		req.Header = esp8266Headers("18:FE:34:00:00:01", "1.1.0")
		r.ServeHTTP(w, req)
		if got := w.Code == http.StatusTeapot; got != tt.guarded {
			t.Errorf("%s: status %d; guarded %v, want %v", tt.target, w.Code, got, tt.guarded)
		}
	}
}
