package plan_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/httpapi"
	"github.com/otagit/otagit/plan"
	"github.com/otagit/otagit/rollout"
)

func mustMAC(t testing.TB, s string) rollout.MAC {
	t.Helper()
	m, err := rollout.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReadVersions(t *testing.T) {
	in := "mac,version\n# office\n\n18:FE:34:A1:00:01  1.1.0\n18-fe-34-a1-00-02,v1.0.0\n  18fe34a10003\t1.2 \n"
	v, err := plan.ReadVersions("versions.txt", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"18:FE:34:A1:00:01": "1.1.0", "18:FE:34:A1:00:02": "v1.0.0", "18:FE:34:A1:00:03": "1.2"}
	if len(v) != len(want) {
		t.Errorf("got %v, want %v", v, want)
	}
	for mac, ver := range want {
		if got, ok := v.Reported(mustMAC(t, mac)); !ok || got != ver {
			t.Errorf("%s: got %q, %v; want %q", mac, got, ok, ver)
		}
	}
	if _, ok := v.Reported(mustMAC(t, "18:FE:34:A1:00:09")); ok {
		t.Error("an unlisted device is known")
	}

	bad := "18:FE:34:A1:00:01 1.1.0\n" +
		"18:FE:34:A1:00:02\n" + // 2: no version
		"nope 1.0.0\n" + // 3: not a MAC
		"18:FE:34:A1:00:03 one\n" + // 4: not a version
		"18:fe:34:a1:00:01 1.2.0\n" + // 5: listed twice
		"18:FE:34:A1:00:04 1.0.0 extra\n" + // 6: three fields
		"18:FE:34:A1:00:05,1.0.0,x\n" // 7: two commas
	_, err = plan.ReadVersions("v.txt", strings.NewReader(bad))
	if err == nil {
		t.Fatal("bad file read without error")
	}
	for _, want := range []string{
		`v.txt:2: want a MAC and a version, got "18:FE:34:A1:00:02"`,
		`v.txt:3: "nope": not a MAC address`,
		`v.txt:4: device 18:FE:34:A1:00:03: version "one": not a semantic version`,
		`v.txt:5: device 18:FE:34:A1:00:01 listed twice (first on line 1)`,
		`v.txt:6: want a MAC and a version`,
		`v.txt:7: want a MAC and a version`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 6 {
		t.Errorf("%d errors, want 6:\n%v", n, err)
	}
}

func FuzzReadVersions(f *testing.F) {
	f.Add("18:FE:34:A1:00:01 1.1.0\n# c\n18-fe-34-a1-00-02,v1.0.0\n")
	f.Add("mac,version\n18fe34a10003 1.2\n")
	f.Add(",\n , \n\t\n")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := plan.ReadVersions("f", strings.NewReader(s))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Errorf("error without file:line: %v", err)
			}
			return
		}
		for mac, ver := range v {
			if _, err := rollout.ParseDeviceVersion(ver); err != nil {
				t.Errorf("%s: accepted version %q: %v", mac, ver, err)
			}
		}
	})
}

// fleetServer runs the real device API, with a tracker that has seen
// devices check in with the given versions. requireToken, if set, is
// demanded as a bearer token, as a proxy in front of the server would.
func fleetServer(t *testing.T, versions map[string]string, requireToken string) string {
	t.Helper()
	var devices []*rollout.Device
	for mac := range versions {
		devices = append(devices, &rollout.Device{MAC: mustMAC(t, mac), Platform: "lamp"})
	}
	lamp := &rollout.Platform{Name: "lamp", Releases: []*rollout.Release{{Platform: "lamp", Version: semver.MustParse("0.0.1")}}} // older than every device: nothing is offered
	fleet, err := rollout.NewFleet([]*rollout.Platform{lamp}, devices)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	tr, err := checkin.NewTracker(context.Background(), checkin.TrackerOptions{Store: checkin.NewMemory(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	r := mux.NewRouter()
	newAPI(fleet, tr, quiet).Register(r)
	for mac, ver := range versions {
		req := httptest.NewRequest(http.MethodGet, "/update", nil)
		req.Header.Set("x-ESP8266-STA-MAC", mac)
		req.Header.Set("x-ESP8266-version", ver)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified && rec.Code != http.StatusOK {
			t.Fatalf("check-in of %s: %d", mac, rec.Code)
		}
	}
	var h http.Handler = r
	if requireToken != "" {
		h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Header.Get("Authorization") != "Bearer "+requireToken {
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"error": "a valid read token is required"}`)
				return
			}
			r.ServeHTTP(w, req)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFetchVersions(t *testing.T) {
	versions := map[string]string{"18:FE:34:A1:00:01": "1.0.0", "18:FE:34:A1:00:02": "v0.9.0", "18:FE:34:A1:00:03": "0.1"}
	url := fleetServer(t, versions, "s3cret")
	check := func(name string, got plan.Versions, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(versions) {
			t.Errorf("%s: got %v, want %v", name, got, versions)
		}
		for mac, ver := range versions {
			if v, ok := got.Reported(mustMAC(t, mac)); !ok || v != ver {
				t.Errorf("%s: %s: got %q, %v; want %q", name, mac, v, ok, ver)
			}
		}
	}
	got, err := plan.FetchVersions(context.Background(), nil, url+"/", "s3cret")
	check("one request", got, err)
	// A fleet larger than the first request takes a second one.
	got, err = plan.FetchVersionsPage(context.Background(), nil, url, "s3cret", 2)
	check("two requests", got, err)

	_, err = plan.FetchVersions(context.Background(), nil, url, "wrong")
	if err == nil || !strings.Contains(err.Error(), "401 Unauthorized: a valid read token is required") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong token: %v", err)
	}
}

func TestFetchVersionsErrors(t *testing.T) {
	// A server that does not record check-ins says so.
	r := mux.NewRouter()
	newAPI(nil, nil, slog.New(slog.DiscardHandler)).Register(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	_, err := plan.FetchVersions(context.Background(), nil, srv.URL, "")
	if err == nil || !strings.Contains(err.Error(), "GET "+srv.URL+"/api/devices?limit=") ||
		!strings.Contains(err.Error(), "404 Not Found: device check-ins are not recorded by this server") {
		t.Errorf("no tracker: %v", err)
	}

	for _, bad := range []string{"", "localhost:8080", "ftp://x/", "http://"} {
		if _, err := plan.FetchVersions(context.Background(), nil, bad, ""); err == nil || !strings.Contains(err.Error(), "want http://") {
			t.Errorf("URL %q: %v", bad, err)
		}
	}

	// Not JSON.
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "<html>") }))
	defer html.Close()
	if _, err := plan.FetchVersions(context.Background(), nil, html.URL, ""); err == nil || !strings.Contains(err.Error(), "reading the device list") {
		t.Errorf("HTML answer: %v", err)
	}

	// The caller's context bounds the exchange: a server that never
	// answers is left when it ends.
	entered := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	}))
	defer hang.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-entered; cancel() }()
	if _, err := plan.FetchVersions(ctx, nil, hang.URL, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("hanging server: %v", err)
	}

	// Credentials in the URL are not repeated in errors.
	if _, err := plan.FetchVersions(context.Background(), nil, "http://user:pw@127.0.0.1:1", ""); err == nil || strings.Contains(err.Error(), "pw") {
		t.Errorf("refused connection: %v", err)
	}
}

// newAPI is the real HTTP API serving fleet (nil: no snapshot yet).
func newAPI(fleet *rollout.Fleet, tr *checkin.Tracker, log *slog.Logger) *httpapi.API {
	cfg := httpapi.Config{Snapshots: snapshots{fleet}, Logger: log}
	if tr != nil { // a nil *Tracker in the interface would not be nil
		cfg.UseTracker(tr)
	}
	return httpapi.New(cfg)
}

// snapshots serves one fleet.
type snapshots struct{ fleet *rollout.Fleet }

func (s snapshots) Current() *gitstore.Snapshot {
	if s.fleet == nil {
		return nil
	}
	return &gitstore.Snapshot{Commit: "0123456789abcdef", Fleet: s.fleet}
}
