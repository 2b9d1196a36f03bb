package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gorilla/mux"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/internal/testwait"
	"github.com/otagit/otagit/rollout"
)

// operatorFixture is a served fleet with a staged release: devices 0..seen-1
// checked in (and were offered 2.0.0 in its first, 100% stage), the rest
// are whitelisted but never seen.
func operatorFixture(t *testing.T, devices, seen int) (http.Handler, []*rollout.Device) {
	t.Helper()
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	art := meterArtifact(t, t.TempDir())
	v1 := &rollout.Release{Platform: "meter", Version: semver.MustParse("1.0.0"), Artifact: art, Fingerprint: "v1"}
	v2 := &rollout.Release{Platform: "meter", Version: semver.MustParse("2.0.0"), Artifact: art, IntroducedAt: t0,
		Stages: []rollout.Stage{{Percent: 100}, {Percent: 100, After: 24 * time.Hour}}, Fingerprint: "v2"}
	fleet, devs := meterFleet(t, 0x02, devices, v1, v2)
	tracker := runTracker(t, checkin.TrackerOptions{Store: checkin.NewMemory(), FailAfter: 3})

	r := mux.NewRouter()
	New(Config{Snapshots: fixedSnapshots{&gitstore.Snapshot{Commit: "c0ffee", Fleet: fleet}}, Status: fixedStatus(gitstore.Status{Commit: "c0ffee"}),
		Halts: tracker, Recorder: tracker, Devices: tracker, Releases: tracker, Resumer: tracker, Recording: tracker, AdminToken: "adm1n",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return t0.Add(time.Hour) }}).Register(r)
	for i := range seen {
		req := httptest.NewRequest("GET", "/update", nil)
		req.Header = esp32Headers(devs[i].MAC.String(), "1.0.0")
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("device %d: got %d, want the 2.0.0 offer", i, rec.Code)
		}
	}
	testwait.For(t, "check-ins recorded", func() bool {
		_, n := tracker.Page(checkin.Filter{Outcome: "pending"}, 0, 0)
		return n == seen
	})
	return r, devs
}

func getJSON(t *testing.T, h http.Handler, method, path string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if method == "POST" {
		req.Header.Set("Authorization", "Bearer adm1n")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, rec.Body.String())
	}
	return rec.Code, doc
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkKeys fails for every object key in v that is not snake_case.
func checkKeys(t *testing.T, where string, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if !snakeCase.MatchString(k) {
				t.Errorf("%s: key %q is not snake_case", where, k)
			}
			checkKeys(t, where+"."+k, e)
		}
	case []any:
		for _, e := range v {
			checkKeys(t, where+"[]", e)
		}
	}
}

func TestOperatorJSONIsSnakeCase(t *testing.T) {
	h, devs := operatorFixture(t, 3, 2)
	for _, path := range []string{
		"/api/status", "/api/devices", "/api/devices/" + devs[0].MAC.String(), "/api/devices/" + devs[2].MAC.String(),
		"/api/releases/meter/2.0.0",
	} {
		code, doc := getJSON(t, h, "GET", path)
		if code != http.StatusOK {
			t.Errorf("%s: %d %v", path, code, doc)
		}
		checkKeys(t, path, doc)
	}
	// The check-ins and the summary carry every field name they have.
	_, doc := getJSON(t, h, "GET", "/api/devices/"+devs[0].MAC.String())
	raw, _ := json.Marshal(doc)
	for _, want := range []string{`"last_version":"1.0.0"`, `"from_version":"1.0.0"`, `"mac":"` + devs[0].MAC.String()} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("device doc lacks %s: %s", want, raw)
		}
	}
}

func TestOperatorJSONNumbersStagesFromOne(t *testing.T) {
	h, devs := operatorFixture(t, 2, 2)
	_, rel := getJSON(t, h, "GET", "/api/releases/meter/2.0.0")
	if rel["stage"] != 1.0 {
		t.Errorf("release stage: got %v, want 1 (the first stage)", rel["stage"])
	}
	counts, _ := rel["counts"].([]any)
	if len(counts) != 1 || counts[0].(map[string]any)["stage"] != 1.0 {
		t.Errorf("counts: got %v, want stage 1 only", rel["counts"])
	}
	if tot := rel["totals"].(map[string]any); tot["stage"] != 0.0 || tot["offered"] != 2.0 {
		t.Errorf("totals: got %v, want stage 0 (all stages), 2 offered", tot)
	}
	_, dev := getJSON(t, h, "GET", "/api/devices/"+devs[0].MAC.String())
	offer := dev["summary"].(map[string]any)["offer"].(map[string]any)
	if offer["stage"] != 1.0 {
		t.Errorf("offer stage: got %v, want 1", offer["stage"])
	}
	// Go clients read back the index the server keeps.
	var sum checkin.Device
	b, _ := json.Marshal(dev["summary"])
	if err := json.Unmarshal(b, &sum); err != nil || sum.Offer == nil || sum.Offer.Stage != 0 {
		t.Errorf("summary read back: %v %+v", err, sum.Offer)
	}
}

func TestDevicesPages(t *testing.T) {
	const seen = 7
	h, devs := operatorFixture(t, seen, seen)
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > seen {
			t.Fatal("the cursor does not end")
		}
		path := "/api/devices?limit=3"
		if after != "" {
			path += "&after=" + after
		}
		code, doc := getJSON(t, h, "GET", path)
		if code != 200 || doc["total"] != float64(seen) || doc["limit"] != 3.0 {
			t.Fatalf("%s: %d %v", path, code, doc)
		}
		for _, d := range doc["devices"].([]any) {
			got = append(got, d.(map[string]any)["mac"].(string))
		}
		next, _ := doc["next"].(string)
		if next == "" {
			break
		}
		after = next
	}
	var want []string
	for _, d := range devs {
		want = append(want, d.MAC.String())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("paged by cursor: got %v, want %v", got, want)
	}
	_, p3 := getJSON(t, h, "GET", "/api/devices?limit=3&page=3")
	if d := p3["devices"].([]any); len(d) != 1 || d[0].(map[string]any)["mac"] != want[6] || p3["next"] != nil {
		t.Errorf("page 3: got %v, want only %s and no next", p3, want[6])
	}
	for _, bad := range []string{"?after=nope", "?page=0", "?limit=-1", "?page=2&after=" + want[0]} {
		if code, doc := getJSON(t, h, "GET", "/api/devices"+bad); code != http.StatusBadRequest {
			t.Errorf("%s: got %d %v, want 400", bad, code, doc)
		}
	}
}

func TestResumeUnknownReleaseIsNotFound(t *testing.T) {
	h, _ := operatorFixture(t, 1, 1)
	for path, want := range map[string]int{
		"/api/releases/meter/9.9.9/resume":   http.StatusNotFound,
		"/api/releases/nowhere/1.0.0/resume": http.StatusNotFound,
		"/api/releases/meter/x.y/resume":     http.StatusBadRequest,
		"/api/releases/meter/v2.0/resume":    http.StatusConflict, // known, not halted
	} {
		if code, doc := getJSON(t, h, "POST", path); code != want {
			t.Errorf("%s: got %d %v, want %d", path, code, doc, want)
		}
	}
}

func TestDecisionNowOfANeverSeenDeviceIsUnknown(t *testing.T) {
	h, devs := operatorFixture(t, 2, 1)
	_, doc := getJSON(t, h, "GET", "/api/devices/"+devs[1].MAC.String())
	now, _ := doc["decision_now"].(map[string]any)
	if now["outcome"] != "unknown" || now["status"] != nil || !strings.Contains(now["assumes"].(string), "unknown version") {
		t.Errorf("never seen: decision_now %v, want unknown and no status", now)
	}
	if raw, _ := json.Marshal(doc); strings.Contains(string(raw), "0.0.0") {
		t.Errorf("never seen: the decision assumes a version: %s", raw)
	}
}
