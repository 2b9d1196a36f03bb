package httpapi

import (
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/gorilla/mux"
	"golang.org/x/crypto/bcrypt"

	"github.com/otagit/otagit/devauth"
	"github.com/otagit/otagit/gitstore"
)

// BenchmarkUpdateNotModifiedAuth is the common poll, a 304, without
// device authentication and with it (a platform credential; a device's
// own takes the same path), after the first request paid the bcrypt check. Run
// with -count to alternate: the ratio of the three is the figure.
func BenchmarkUpdateNotModifiedAuth(b *testing.B) {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "auth.toml")
	os.WriteFile(file, []byte("[platform.station]\nuser = \"station\"\nhash = \""+string(h)+
		"\"\n[device.\"24:0A:C4:00:00:02\"]\nuser = \"own\"\nhash = \""+string(h)+"\"\n"), 0o600)
	auth, err := devauth.New(devauth.Options{File: file})
	if err != nil {
		b.Fatal(err)
	}
	fleet := testFleet(b, b.TempDir(), 1<<20)
	for _, tt := range []struct {
		name, mac, user string
		auth            DeviceAuthorizer
	}{
		{"off", "24:0A:C4:00:00:01", "", nil},
		{"platform", "24:0A:C4:00:00:01", "station", auth},
	} {
		b.Run(tt.name, func(b *testing.B) {
			r := mux.NewRouter()
			New(Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Fleet: fleet}}, DeviceAuthorizer: tt.auth,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(r)
			req := httptest.NewRequest("GET", "/update", nil)
			req.Header = esp32Headers(tt.mac, "2.0.0")
			if tt.user != "" {
				req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(tt.user+":pw")))
			}
			w := &discardWriter{h: http.Header{}}
			r.ServeHTTP(w, req) // the one bcrypt check
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				clear(w.h)
				w.status = 0
				r.ServeHTTP(w, req)
			}
			if w.status != http.StatusNotModified {
				b.Fatalf("status %d, want 304", w.status)
			}
		})
	}
}
