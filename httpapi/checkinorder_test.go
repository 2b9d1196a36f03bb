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
	"github.com/otagit/otagit/rollout"
)

// headerWatch is a ResponseWriter that knows whether the status has been
// written to it yet.
type headerWatch struct {
	*httptest.ResponseRecorder
	written bool
}

func (h *headerWatch) WriteHeader(code int) { h.written = true; h.ResponseRecorder.WriteHeader(code) }
func (h *headerWatch) Write(b []byte) (int, error) {
	h.written = true
	return h.ResponseRecorder.Write(b)
}

// orderRecorder records, for each check-in, whether the answer's status
// had already been written when it was observed.
type orderRecorder struct {
	w    *headerWatch
	seen []checkin.CheckIn
	late []bool
}

func (r *orderRecorder) Observe(c checkin.CheckIn, _ rollout.Decision) {
	r.seen = append(r.seen, c)
	r.late = append(r.late, r.w.written)
}

// A check-in is observed (acknowledged: journaled, with the tracker)
// before any of its answer is written, for every client and answer: a
// process killed once the device has its answer has the check-in.
func TestCheckInObservedBeforeAnswer(t *testing.T) {
	fx := newClientsFixture(t)
	rec := &orderRecorder{}
	r := mux.NewRouter()
	New(Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Commit: "c1", Fleet: fx.fleet}}, Recorder: rec,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(r)
	for _, tt := range []struct {
		name, url string
		h         http.Header
		status    int
		offered   string
	}{
		{"update: 304", "/update", esp8266Headers("18:FE:34:00:00:01", "1.1.0"), 304, ""},
		{"update: image", "/update", esp8266Headers("18:FE:34:00:00:01", "1.0.0"), 200, "1.1.0"},
		{"autoconnect: image", "/lamp/lamp-1.1.0.bin", esp8266Headers("18:FE:34:00:00:01", "1.0.0"), 200, "1.1.0"},
		{"fuota: check", "/devices/desk?app_ver=1.0.0", nil, 200, ""},
		{"fuota: image", "/files/18FE34000001/1.0.0/lamp-1.1.0.bin", nil, 200, "1.1.0"},
		{"esp32fota: manifest", "/fota/station.json?id=1099524475428", nil, 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.url, nil)
			if tt.h != nil {
				req.Header = tt.h
			}
			rec.w = &headerWatch{ResponseRecorder: httptest.NewRecorder()}
			rec.seen, rec.late = nil, nil
			r.ServeHTTP(rec.w, req)
			if rec.w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.w.Code, tt.status, rec.w.Body)
			}
			if len(rec.seen) != 1 {
				t.Fatalf("%d check-ins observed, want 1", len(rec.seen))
			}
			if rec.late[0] {
				t.Error("check-in observed after the answer's status was written")
			}
			if c := rec.seen[0]; c.Status != tt.status || c.Offered != tt.offered {
				t.Errorf("check-in status %d offered %q, want %d %q", c.Status, c.Offered, tt.status, tt.offered)
			}
		})
	}
}
