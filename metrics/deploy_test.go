package metrics

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The example alert rules and Grafana dashboard, shipped beside the code.
const (
	rulesFile     = "../deploy/monitoring/otagit-rules.yml"
	dashboardFile = "../deploy/monitoring/otagit-dashboard.json"
)

var metricName = regexp.MustCompile(`\botagit_[a-z_]+\b`)

// checkNames fails for every otagit_ metric expr names that the registry
// does not export.
func checkNames(t *testing.T, where, expr string) {
	t.Helper()
	known := Names()
	for _, n := range metricName.FindAllString(expr, -1) {
		if !slices.Contains(known, n) {
			t.Errorf("%s: %s: no such metric (exported: metrics.Names)", where, n)
		}
	}
}

// TestAlertRules reads the example rules with a small check of their
// shape (promtool check rules too, when it is installed): every rule has
// an alert name and an expression over metrics that exist, and the
// alerts the operator needs are there.
func TestAlertRules(t *testing.T) {
	f, err := os.Open(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var alerts []string
	exprs := map[string]string{}
	sc := bufio.NewScanner(f)
	line := 0
	var cur string
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.Contains(text, "\t") {
			t.Errorf("%s:%d: tab in YAML", rulesFile, line)
		}
		trimmed := strings.TrimSpace(text)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		key, val, ok := strings.Cut(strings.TrimPrefix(trimmed, "- "), ":")
		if !ok {
			t.Errorf("%s:%d: not a key: value line: %q", rulesFile, line, text)
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "alert":
			cur = val
			alerts = append(alerts, val)
		case "expr":
			if cur == "" || val == "" {
				t.Errorf("%s:%d: expr outside an alert, or empty", rulesFile, line)
			}
			exprs[cur] = val
			checkNames(t, fmt.Sprintf("%s:%d", rulesFile, line), val)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if exprs[a] == "" {
			t.Errorf("alert %s has no expr", a)
		}
	}
	for _, want := range []string{"OtagitReleaseHalted", "OtagitSyncFailing", "OtagitCommitRejected", "OtagitCheckinsDropped"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s missing from %s", want, rulesFile)
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
	}
}

// TestDashboard: the Grafana dashboard is valid JSON, every panel queries
// something, and every metric it queries exists.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("%s: no title or no panels", dashboardFile)
	}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("panel %q: empty expr", p.Title)
			}
			checkNames(t, "panel "+p.Title, tg.Expr)
			for _, n := range metricName.FindAllString(tg.Expr, -1) {
				used[n] = true
			}
		}
	}
	for _, n := range Names() {
		if !used[n] {
			t.Logf("dashboard does not chart %s", n)
		}
	}
}
