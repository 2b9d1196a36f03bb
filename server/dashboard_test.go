package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDashboardServed: the server serves the dashboard beside the API,
// with the served commit on it.
func TestDashboardServed(t *testing.T) {
	repo, commit := starter(t, 0)
	srv := start(t, repo.Bare, nil)
	waitServing(t, srv.addrs[0], commit)
	for _, tt := range []struct{ path, want string }{
		{"/", commit[:12]},
		{"/ui/platforms", "smart-lamp"},
		{"/ui/platforms/smart-lamp", "Releases"},
		{"/ui/devices", "18:FE:34:A1:00:01"},
		{"/ui/devices/18:FE:34:A1:00:01", "Decision now"},
	} {
		res, err := http.Get("http://" + srv.addrs[0] + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), tt.want) {
			t.Errorf("%s: %d, %q in the page: %v", tt.path, res.StatusCode, tt.want, strings.Contains(string(body), tt.want))
		}
	}
}
