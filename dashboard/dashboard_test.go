package dashboard

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/internal/buildinfo"
	"github.com/otagit/otagit/rollout"
)

func mustContain(t *testing.T, page, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s: no %q in the page", page, w)
		}
	}
}

// TestPages renders every page of a fleet three and a half days into a
// rollout, with a halted release and a rejected commit.
func TestPages(t *testing.T) {
	fx := newFixture(t, 140, 60)
	fx.simulate(t0.Add(84*time.Hour), 4*time.Hour)
	fx.rejectCommit()
	fx.status.GitHubError = "GET /repos/acme/fw/releases: 502 Bad Gateway"
	fx.settle()

	res, body := fx.get("/")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("/: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if !strings.HasPrefix(res.Header.Get("Server-Timing"), "render;dur=") || res.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("/: headers %v", res.Header)
	}
	mustContain(t, "overview", body,
		"0123456789ab", "lamp 1.2.0 from March 5", // serving
		"Commit rejected", "fedcba987654", // the rejected commit, with every problem
		`<code>platforms/lamp.toml:12</code> <code>release[2].version</code>: &#34;1.3&#34; is not a semantic version`,
		`<code>devices/office.toml:3</code> <code>device[0].mac</code>`,
		"GitHub degraded", "502 Bad Gateway",
		"<dt>Server</dt><dd>otagit "+buildinfo.Get().String(), "<footer>otagit "+buildinfo.Get().String(), // the version
		"1 release halted", "plug 2.1.0", "updates failed", // the halt and its reason
		`href="/ui/platforms/lamp"`, `href="/ui/platforms/plug"`,
		"200 of 200 whitelisted")
	if strings.Contains(body, "All well") {
		t.Error("overview: all well, with a halt and a rejected commit")
	}

	_, body = fx.get("/ui/platforms/lamp")
	mustContain(t, "lamp", body,
		`<svg class="adoption"`, "Share of lamp devices on each version over time",
		`id="release-1.2.0"`, `id="release-1.1.0"`, `id="release-1.0.0"`,
		"stage 1 of 2, 20%; next stage 2026-03-06 00:00 UTC (in 12 h)", // 1.2.0
		"stage 3 of 3, 100% (last)",                                    // 1.1.0 is fully rolled out
		"Stage timeline of lamp 1.1.0", ">now</text>",
		"succeeded", "failed")
	if strings.Contains(body, "badge bad\">halted") {
		t.Error("lamp: a lamp release shows as halted")
	}
	_, body = fx.get("/ui/platforms/plug")
	mustContain(t, "plug", body, `<span class="badge bad">halted</span>`, "Halted</strong>", "no stages")

	_, body = fx.get("/ui/platforms")
	mustContain(t, "platforms", body, "lamp", "plug", "2.1.0 halted", "Versions now: 1.1.0")

	_, body = fx.get("/ui/devices?platform=plug&outcome=failure")
	mustContain(t, "failed plugs", body, "update to 2.1.0 failed")
	if n := len(macLinks(body)); n == 0 {
		t.Error("failed plugs: none listed")
	}

	// A lamp that fails its updates, and one that took them.
	_, body = fx.get("/ui/devices/" + fx.devs[3].MAC.String())
	mustContain(t, "failing lamp", body, "lamp 0003", "Decision now", "Recent check-ins", "offered 1.1.0, pending", `<td class="state bad">failure</td>`, "192.0.2.7:4000")
	_, body = fx.get("/ui/devices/" + strings.ToLower(fx.devs[1].MAC.String()))
	mustContain(t, "updated lamp", body, "nothing to install (304)", "1.2.0: stage 1 of 2: not yet in the 20% cohort", "updated to 1.1.0")
}

// TestUnsignedCommitRejected: a commit refused for its signature has no
// problems; the overview gives the reason instead.
func TestUnsignedCommitRejected(t *testing.T) {
	fx := newFixture(t, 3, 0)
	fx.status.RejectedCommit, fx.status.RejectedReason = "fedcba9876543210fedcba9876543210fedcba98", "commit is not signed"
	fx.status.SignedBy = "ops@example.com (SSH key SHA256:abc)"
	_, body := fx.get("/")
	mustContain(t, "overview", body, "Commit rejected:</strong> commit fedcba987654: commit is not signed",
		"The branch head is not served: commit is not signed.", "Signed by</dt><dd>ops@example.com (SSH key SHA256:abc)")
}

func TestNotFound(t *testing.T) {
	fx := newFixture(t, 3, 0)
	for _, target := range []string{"/ui/platforms/toaster", "/ui/devices/00:11:22:33:44:55", "/ui/devices/not-a-mac"} {
		res, body := fx.get(target)
		if res.StatusCode != http.StatusNotFound || !strings.Contains(body, "<h1>Not found</h1>") {
			t.Errorf("%s: %d, want 404 with the not-found page", target, res.StatusCode)
		}
	}
	if res, _ := fx.get("/ui/static/style.css"); res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Errorf("style.css: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

// TestAccessWrapsEveryPage: the access rule the server gives guards every
// route, the static files too.
func TestAccessWrapsEveryPage(t *testing.T) {
	fx := newFixture(t, 3, 0)
	d := New(Config{Snapshots: fixedSnapshots{nil}, Access: func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusUnauthorized) })
	}})
	r := mux.NewRouter()
	d.Register(r)
	for _, target := range []string{"/", "/ui/platforms", "/ui/platforms/lamp", "/ui/devices", "/ui/devices/" + fx.devs[0].MAC.String(), "/ui/static/style.css"} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401 from the access rule", target, w.Code)
		}
	}
}

// TestNothingServedYet: before the first snapshot, every page still
// renders and says so.
func TestNothingServedYet(t *testing.T) {
	d := New(Config{Snapshots: fixedSnapshots{nil}})
	r := mux.NewRouter()
	d.Register(r)
	for _, target := range []string{"/", "/ui/platforms", "/ui/devices"} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		if w.Code != http.StatusOK {
			t.Errorf("%s: %d", target, w.Code)
		}
		if target == "/" && !strings.Contains(w.Body.String(), "Not serving") {
			t.Errorf("/: does not say nothing is served")
		}
	}
}

var macLink = regexp.MustCompile(`href="/ui/devices/([0-9A-F:]{17})"`)

func macLinks(body string) []string {
	var out []string
	for _, m := range macLink.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestDeviceList checks search, filters and paging against a plain
// reading of the same facts: every device, whitelisted or seen, tested
// field by field.
func TestDeviceList(t *testing.T) {
	fx := newFixture(t, 130, 40)
	// Every tenth device is new, not installed yet: it never checks in.
	for at := t0; at.Before(t0.Add(40 * time.Hour)); at = at.Add(6 * time.Hour) {
		for i := range fx.devs {
			if i%10 != 9 {
				fx.poll(i, at.Add(time.Duration(i)*time.Minute))
			}
		}
	}
	// Devices that checked in and are not whitelisted (any more).
	for i := range 3 {
		m := rollout.MAC{0x18, 0xFE, 0x34, 0, 0x7F, byte(i)}
		fx.tracker.Observe(checkin.CheckIn{MAC: m, At: t0, Platform: "lamp", Version: "0.9.0"}, rollout.Decision{})
	}

	type fact struct {
		mac               rollout.MAC
		name, platform    string
		whitelisted, seen bool
		version           string
		pending           bool
		latest            string // the latest outcome, "" if none
	}
	var facts []fact
	seen := map[rollout.MAC]checkin.Device{}
	for _, d := range fx.tracker.Devices(checkin.Filter{}) {
		seen[d.MAC] = d
	}
	macs := map[rollout.MAC]bool{}
	for _, d := range fx.fleet.Devices() {
		macs[d.MAC] = true
	}
	for m := range seen {
		macs[m] = true
	}
	for m := range macs {
		f := fact{mac: m}
		if dev := fx.fleet.Device(m); dev != nil {
			f.whitelisted, f.name, f.platform = true, dev.Name, dev.Platform
		}
		if d, ok := seen[m]; ok {
			f.seen, f.version = true, d.LastVersion
			if !f.whitelisted {
				f.platform = d.Platform
			}
			f.pending = d.Offer != nil
			if len(d.Outcomes) > 0 {
				f.latest = d.Outcomes[0].Result.String()
			}
		}
		facts = append(facts, f)
	}
	slices.SortFunc(facts, func(a, b fact) int { return compareMAC(a.mac, b.mac) })

	tests := []struct {
		query string
		keep  func(f fact) bool
	}{
		{"", func(fact) bool { return true }},
		{"platform=plug", func(f fact) bool { return f.platform == "plug" }},
		{"version=1.1.0", func(f fact) bool { return f.seen && f.version == "1.1.0" }},
		{"outcome=failure&platform=lamp", func(f fact) bool { return f.latest == "failure" && f.platform == "lamp" }},
		{"outcome=success", func(f fact) bool { return f.latest == "success" }},
		{"outcome=pending", func(f fact) bool { return f.pending }},
		{"outcome=none", func(f fact) bool { return f.seen && !f.pending && f.latest == "" }},
		{"seen=gone", func(f fact) bool { return f.seen && !f.whitelisted }},
		{"seen=never&platform=plug", func(f fact) bool { return !f.seen && f.platform == "plug" }},
		{"seen=seen&platform=lamp", func(f fact) bool { return f.seen && f.platform == "lamp" }},
		{"q=lamp+01", func(f fact) bool { return strings.Contains(f.name, "lamp 01") }},
		{"q=PLUG", func(f fact) bool { return strings.Contains(f.name, "plug") }},
		{"q=00-7f", func(f fact) bool { return strings.Contains(strings.ToLower(f.mac.String()), "00:7f") }},
		{"q=18FE340000", func(f fact) bool { return strings.HasPrefix(f.mac.String(), "18:FE:34:00:00") }},
		{"q=nothing-like-it", func(fact) bool { return false }},
	}
	for _, tt := range tests {
		var want []string
		for _, f := range facts {
			if tt.keep(f) {
				want = append(want, f.mac.String())
			}
		}
		var got []string
		for page := 1; ; page++ {
			res, body := fx.get("/ui/devices?" + tt.query + "&page=" + itoa(page))
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d", tt.query, res.StatusCode)
			}
			links := macLinks(body)
			if len(links) > perPage {
				t.Fatalf("%s page %d: %d devices, more than a page", tt.query, page, len(links))
			}
			got = append(got, links...)
			if !strings.Contains(body, `rel="next"`) {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q: got %d devices, want %d\n got %v\nwant %v", tt.query, len(got), len(want), got, want)
		}
	}
	res, body := fx.get("/ui/devices?outcome=bogus")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "outcome must be") {
		t.Errorf("a bad outcome: %d, no message", res.StatusCode)
	}
}

func itoa(n int) string { return count(n) }

// TestWithoutCheckIns: a server that records no check-ins shows the
// config alone, on every page.
func TestWithoutCheckIns(t *testing.T) {
	fx := newFixture(t, 5, 2)
	d := New(Config{Snapshots: fixedSnapshots{fx.dash.snaps.Current()}})
	r := mux.NewRouter()
	d.Register(r)
	for _, tt := range []struct{ target, want string }{
		{"/", "not recorded by this server"},
		{"/ui/platforms/lamp", "no adoption to show"},
		{"/ui/devices", "only the whitelist is shown"},
		{"/ui/devices/" + fx.devs[0].MAC.String(), "Check-ins are not recorded"},
	} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.target, nil))
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("%s: %d, %q in the page: %v", tt.target, w.Code, tt.want, strings.Contains(w.Body.String(), tt.want))
		}
	}
}

// TestNeverSeenDevice: a whitelisted device that never checked in runs a
// version nobody knows, so the page decides nothing rather than assume
// one.
func TestNeverSeenDevice(t *testing.T) {
	fx := newFixture(t, 2, 1)
	res, body := fx.get("/ui/devices/" + fx.devs[0].MAC.String())
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%d", res.StatusCode)
	}
	mustContain(t, "never-seen device", body, "unknown until it checks in", "its version is unknown")
	for _, bad := range []string{"0.0.0", "Assuming", "offered (200)"} {
		if strings.Contains(body, bad) {
			t.Errorf("never-seen device page says %q", bad)
		}
	}
}
