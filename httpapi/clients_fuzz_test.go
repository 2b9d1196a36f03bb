package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/otagit/otagit/rollout"
)

// FuzzCatalogName: the names the AutoConnect catalog writes read back as
// the platform and version they came from, and any name reads without a
// panic.
func FuzzCatalogName(f *testing.F) {
	f.Add("smart-lamp", "1.2.0", "smart-lamp-1.2.0.bin")
	f.Add("a-1", "2.0.0-rc.1", "x.bin")
	f.Add("lamp", "0.0.1+b", "-1.0.0.bin")
	f.Fuzz(func(t *testing.T, platform, version, name string) {
		parseCatalogName(name)
		v, err := rollout.ParseReleaseVersion(version)
		if err != nil || !platformNameOK(platform) {
			return
		}
		rel := &rollout.Release{Platform: platform, Version: v}
		p, ver, ok := parseCatalogName(catalogName(rel))
		if !ok || p != platform || ver != rollout.VersionKey(v) {
			t.Fatalf("%s reads back as %q, %q, %v", catalogName(rel), p, ver, ok)
		}
	})
}

// platformNameOK is the config's rule for platform names (config's
// platformName), restated: 1-64 of [a-z0-9-], not starting with '-'.
func platformNameOK(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// FuzzDeviceEndpoints: any path and query sent to the device endpoints
// is answered without a panic, with a status the clients know and, when
// there is a body, its exact Content-Length.
func FuzzDeviceEndpoints(f *testing.F) {
	for _, s := range []string{
		"/_catalog?op=list&path=/lamp", "/_catalog?op=list&path=/../x", "/lamp/lamp-1.1.0.bin",
		"/devices/desk?app_ver=1.0.0", "/files/18FE34000001/1.0.0/lamp-1.1.0.bin",
		"/fota/station.json?id=1099524475428", "/fota/station/any/0.0.0/2.0.0.bin",
		"/esphome/station.json?id=roof&ver=v1", "/esphome/station/240AC4000001/%00/2.0.0.bin",
	} {
		f.Add(s)
	}
	fx := newClientsFixtureTB(f)
	known := map[int]bool{200: true, 204: true, 304: true, 400: true, 403: true, 404: true, 405: true, 301: true}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Path == "" || u.Path[0] != '/' {
			return
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.URL, req.RequestURI = u, target
		req.Header = esp8266Headers("18:FE:34:00:00:01", "")
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, req)
		if !known[rec.Code] {
			t.Fatalf("GET %s: status %d (%s)", target, rec.Code, rec.Body)
		}
		// (The router's own 404 for a path no endpoint has gets its
		// length from net/http on a connection.)
		routed := rec.Body.String() != "404 page not found\n"
		if cl := rec.Header().Get("Content-Length"); routed && rec.Body.Len() > 0 && rec.Code != http.StatusMovedPermanently && cl != strconv.Itoa(rec.Body.Len()) {
			t.Fatalf("GET %s: Content-Length %q for %d bytes", target, cl, rec.Body.Len())
		}
	})
}
