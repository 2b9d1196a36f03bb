package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/internal/testwait"
	"github.com/otagit/otagit/rollout"
)

// discardWriter is a ResponseWriter that keeps only the status. Its
// ReadFrom stands in for the sendfile path of a real connection.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(s int)           { d.status = s }
func (d *discardWriter) ReadFrom(r io.Reader) (int64, error) {
	return io.Discard.(io.ReaderFrom).ReadFrom(r)
}

func benchUpdate(b *testing.B, version string, size int, wantStatus int) {
	fleet := testFleet(b, b.TempDir(), size)
	// The real logger configuration, writing to nowhere: formatting the
	// one record per request is part of the cost.
	h := newTestRouter(b, &gitstore.Snapshot{Fleet: fleet}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	req := httptest.NewRequest("GET", "/update", nil)
	req.Header = esp32Headers("24:0A:C4:00:00:01", version)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	if wantStatus == http.StatusOK {
		b.SetBytes(int64(size))
	}
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, req)
	}
	if w.status != wantStatus {
		b.Fatalf("status: got %d, want %d", w.status, wantStatus)
	}
}

// BenchmarkUpdateNotModified is the common poll: a device that is up to
// date gets a 304.
func BenchmarkUpdateNotModified(b *testing.B) { benchUpdate(b, "2.0.0", 1<<20, http.StatusNotModified) }

// BenchmarkUpdateDownload is a device getting a 1 MB image.
func BenchmarkUpdateDownload(b *testing.B) { benchUpdate(b, "1.0.0", 1<<20, http.StatusOK) }

// BenchmarkUpdateNotModifiedRecording is BenchmarkUpdateNotModified with
// check-in recording on (a Tracker over a bbolt file, its writer running),
// polled by 50,000 devices in turn, as a fleet would, each of which has
// polled once before the timer starts: the steady state of a server that
// has run for a while, where most polls change nothing but LastSeen.
func BenchmarkUpdateNotModifiedRecording(b *testing.B) {
	for _, record := range []bool{false, true} {
		name := "off"
		if record {
			name = "on"
		}
		b.Run(name, func(b *testing.B) { benchFleetPolls(b, record) })
	}
}

func benchFleetPolls(b *testing.B, record bool) {
	const devices = 50000
	dir := b.TempDir()
	base := testFleet(b, dir, 4096)
	var devs []*rollout.Device
	for i := range devices {
		devs = append(devs, &rollout.Device{MAC: rollout.MAC{0x24, 0x0A, 0xC4, byte(i >> 16), byte(i >> 8), byte(i)}, Platform: "station"})
	}
	fleet, err := rollout.NewFleet(base.Platforms(), devs)
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Fleet: fleet}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var stats func() checkin.WriterStats
	if record {
		db, err := checkin.OpenBolt(filepath.Join(dir, "checkins.db"), checkin.BoltOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		tr, err := checkin.NewTracker(context.Background(), checkin.TrackerOptions{Store: db, Logger: cfg.Logger})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- tr.Run(ctx) }()
		defer func() { cancel(); <-done }()
		cfg.UseTracker(tr)
		stats = tr.WriterStats
	}
	router := mux.NewRouter()
	api := New(cfg)
	api.Register(router)
	r := api.Front(router)
	reqs := make([]*http.Request, devices)
	for i := range reqs {
		reqs[i] = httptest.NewRequest("GET", "/update", nil)
		reqs[i].Header = esp32Headers(devs[i].MAC.String(), "2.0.0")
		reqs[i].RemoteAddr = "10.1.2.3:40000"
	}
	w := &discardWriter{h: http.Header{}}
	for _, req := range reqs {
		clear(w.h)
		r.ServeHTTP(w, req)
	}
	if stats != nil {
		testwait.For(b, "the first check-ins saved", func() bool { return stats().Queued == 0 })
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		clear(w.h)
		r.ServeHTTP(w, reqs[i%devices])
		i++
	}
	if w.status != http.StatusNotModified {
		b.Fatalf("status %d", w.status)
	}
}

// The other clients' endpoints, each in its common case, next to
// BenchmarkUpdateNotModified: a device with nothing to install.

func benchEndpoint(b *testing.B, url string, header http.Header, wantStatus int) {
	fleet := testFleet(b, b.TempDir(), 4096)
	h := newTestRouter(b, &gitstore.Snapshot{Fleet: fleet}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	req := httptest.NewRequest("GET", url, nil)
	req.Host = "ota.example:8080"
	if header != nil {
		req.Header = header
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, req)
	}
	if w.status != wantStatus {
		b.Fatalf("status: got %d, want %d", w.status, wantStatus)
	}
}

// BenchmarkUpdateAutoConnectCatalog is AutoConnect's catalog of one
// platform (two releases).
func BenchmarkUpdateAutoConnectCatalog(b *testing.B) {
	benchEndpoint(b, "/_catalog?op=list&path=/lamp", http.Header{"User-Agent": {"ESP8266HTTPClient"}}, http.StatusOK)
}

// BenchmarkUpdateAutoConnectPick is the file an AutoConnect user picked,
// which the device runs already: 304.
func BenchmarkUpdateAutoConnectPick(b *testing.B) {
	h := esp8266Headers("18:FE:34:00:00:01", "1.1.0")
	benchEndpoint(b, "/lamp/lamp-1.1.0.bin", h, http.StatusNotModified)
}

// BenchmarkUpdateFUOTACheck is the FUOTA app's check, up to date: 204.
func BenchmarkUpdateFUOTACheck(b *testing.B) {
	benchEndpoint(b, "/devices/desk?app_ver=1.1.0", http.Header{"User-Agent": {"ESP32 HTTP Client/1.0"}}, http.StatusNoContent)
}

// BenchmarkUpdateESP32FOTAManifest is esp32FOTA's manifest for a device on
// the newest release (?ver= given): a 200 with JSON.
func BenchmarkUpdateESP32FOTAManifest(b *testing.B) {
	id := strconv.FormatUint(rollout.EfuseID(rollout.MAC{0x24, 0x0A, 0xC4, 0, 0, 1}), 10)
	benchEndpoint(b, "/fota/station.json?ver=2.0.0&id="+id, http.Header{"User-Agent": {"ESP32HTTPClient"}}, http.StatusOK)
}

// BenchmarkUpdateESPHomeManifest is ESPHome's manifest for a device by
// its MAC: a 200 with JSON.
func BenchmarkUpdateESPHomeManifest(b *testing.B) {
	benchEndpoint(b, "/esphome/station.json?id=240AC4000001&ver=2.0.0", nil, http.StatusOK)
}
