package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/otagit/otagit/gitstore"
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
