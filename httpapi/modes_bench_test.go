package httpapi

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/rollout"
)

// The cost of the filesystem and version paths of /update, next to
// BenchmarkUpdateNotModified: an ESP8266 on lamp 1.0.0, offered 1.1.0.

// BenchmarkUpdateVersion is getAvailableVersion(): 200 with x-version.
func BenchmarkUpdateVersion(b *testing.B) {
	benchMode(b, "version", false, false, http.StatusOK)
}

// BenchmarkUpdateFilesystem is updateFS(): the release has no filesystem
// (304), it has one the device took already (304, with check-ins
// recorded: the device's record is read), or it has one to send (200,
// 64 KiB).
func BenchmarkUpdateFilesystem(b *testing.B) {
	b.Run("none", func(b *testing.B) { benchMode(b, "spiffs", false, false, http.StatusNotModified) })
	b.Run("taken", func(b *testing.B) { benchMode(b, "spiffs", true, true, http.StatusNotModified) })
	b.Run("download", func(b *testing.B) { benchMode(b, "spiffs", true, false, http.StatusOK) })
}

func benchMode(b *testing.B, mode string, withFS, taken bool, wantStatus int) {
	dir := b.TempDir()
	fleet := testFleet(b, dir, 4096)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const fsSize = 64 << 10
	if withFS {
		data := make([]byte, fsSize)
		file := filepath.Join(dir, "fs.bin")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			b.Fatal(err)
		}
		sum := md5.Sum(data)
		fleet.Platform("lamp").Releases[0].Filesystem = &rollout.Artifact{File: file, Size: fsSize, MD5: hex.EncodeToString(sum[:]), SHA256: strings.Repeat("ef", 32)}
	}
	cfg := Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Fleet: fleet}}, Logger: log}
	if taken {
		tr, err := checkin.NewTracker(context.Background(), checkin.TrackerOptions{Store: checkin.NewMemory(), Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- tr.Run(ctx) }()
		defer func() { cancel(); <-done }()
		cfg.UseTracker(tr)
	}
	r := mux.NewRouter()
	New(cfg).Register(r)
	req := httptest.NewRequest("GET", "/update", nil)
	req.Header = esp8266Headers("18:FE:34:00:00:01", "1.0.0")
	req.Header.Set("x-ESP8266-mode", mode)
	req.RemoteAddr = "10.1.2.3:40000"
	if taken {
		// The first poll takes the image; the ones measured are told so.
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("first filesystem poll: %d", rec.Code)
		}
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	if wantStatus == http.StatusOK && mode == "spiffs" {
		b.SetBytes(fsSize)
	}
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		w.status = 0
		r.ServeHTTP(w, req)
	}
	if w.status != wantStatus {
		b.Fatalf("status: got %d, want %d", w.status, wantStatus)
	}
}
