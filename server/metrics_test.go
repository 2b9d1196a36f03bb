package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/otagit/otagit/internal/testwait"
)

// pollRaw sends raw, a request as a device writes it, to addr and returns
// the status.
func pollRaw(t *testing.T, addr, raw string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, raw)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// TestMetricsEndpoint: /metrics counts the device requests the server
// answered (the /update fast path included) by endpoint, status,
// decision and reason, the bytes it sent, and reads the serving commit
// and the check-in queue from the stores.
func TestMetricsEndpoint(t *testing.T) {
	repo, commit := starter(t, 4096)
	srv := start(t, repo.Bare, nil)
	addr := srv.addrs[0]
	waitServing(t, addr, commit)

	for _, tc := range []struct {
		raw  string
		want int
	}{
		{lampRequest("18:FE:34:A1:00:01", "1.2.0"), http.StatusNotModified},
		{lampRequest("18:FE:34:A1:00:01", "1.2.0"), http.StatusNotModified},
		{lampRequest("18:FE:34:A1:00:01", "1.1.0"), http.StatusOK},
		{lampRequest("18:FE:34:0F:0F:0F", "1.1.0"), http.StatusForbidden},
		{"GET /update HTTP/1.0\r\nUser-Agent: ESP8266-http-Update\r\n\r\n", http.StatusBadRequest},
		// Not GET or HEAD: past the fast path, to the router.
		{"POST /update HTTP/1.0\r\nContent-Length: 0\r\n\r\n", http.StatusMethodNotAllowed},
	} {
		if got := pollRaw(t, addr, tc.raw); got != tc.want {
			t.Fatalf("%q: got %d, want %d", strings.SplitN(tc.raw, "\r\n", 2)[0], got, tc.want)
		}
	}

	var fams map[string]*dto.MetricFamily
	scrape := func() {
		res, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("/metrics: %s", res.Status)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		if fams, err = parser.TextToMetricFamilies(res.Body); err != nil {
			t.Fatal(err)
		}
	}
	get := func(name string, labels ...string) (float64, bool) {
		f := fams[name]
		if f == nil {
			return 0, false
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if got[labels[i]] != labels[i+1] {
					continue series
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue(), true
			}
			return m.Gauge.GetValue(), true
		}
		return 0, false
	}
	// A device has its whole answer before the handler counts it: wait
	// until no handler but the scrape's own is running.
	testwait.For(t, "the device requests' handlers to end", func() bool {
		scrape()
		n, _ := get("otagit_http_requests_in_flight")
		return n == 1
	})
	for _, tc := range []struct {
		want   float64
		name   string
		labels []string
	}{
		{2, "otagit_device_requests_total", []string{"endpoint", "update", "status", "304", "decision", "up_to_date", "reason", "latest", "platform", "smart-lamp"}},
		{1, "otagit_device_requests_total", []string{"endpoint", "update", "status", "200", "decision", "update", "reason", "newer", "platform", "smart-lamp"}},
		{1, "otagit_device_requests_total", []string{"endpoint", "update", "status", "403", "decision", "not_whitelisted", "reason", "not_whitelisted"}},
		{1, "otagit_device_requests_total", []string{"endpoint", "update", "status", "400", "decision", "none", "reason", "malformed", "platform", "unknown"}},
		{4096, "otagit_device_bytes_sent_total", nil},
		{0, "otagit_device_downloads_in_flight", nil},
		{1, "otagit_serving_commit_info", []string{"commit", commit, "branch", "main"}},
		{1, "otagit_sync_ok", nil},
		{0, "otagit_commit_rejected", nil},
		{0, "otagit_releases_halted", nil},
		{0, "otagit_checkins_dropped_total", nil},
	} {
		got, ok := get(tc.name, tc.labels...)
		if !ok {
			t.Errorf("%s%v: not exported", tc.name, tc.labels)
		} else if got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if _, ok := get("otagit_sync_seconds_since_success"); !ok {
		t.Error("otagit_sync_seconds_since_success: not exported")
	}
	if _, ok := get("otagit_checkin_queue_depth"); !ok {
		t.Error("otagit_checkin_queue_depth: not exported")
	}
}
