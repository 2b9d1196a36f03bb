package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/rollout"
)

// groupName is what a group may be called.
var groupName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Defaults of the rollout rules.
const (
	// defaultHaltMinDevices is how many outcomes a stage needs before its
	// failure rate may halt a release: fewer would halt on one unlucky
	// device.
	defaultHaltMinDevices = 20
)

// releaseKeys are the keys a [[release]] table may have.
var releaseKeys = []string{"version", "file", "filesystem", "github", "tag", "asset", "sha256", "channel", "groups", "stages", "from", "yanked", "paused", "halt_on_failure", "halt_min_devices"}

// releaseRules reads the rollout rules set in t into r, leaving the
// fields of rules t does not set as they are (callers set defaults first:
// see newRelease). It returns false when one of them is an error.
func releaseRules(t *table, r *rollout.Release) bool {
	n := len(*t.f.probs)
	if s, ok := t.str("channel", false); ok {
		c, err := rollout.ParseChannel(s)
		if err != nil {
			t.errorf("channel", "%v", err)
		}
		r.Channel = c
		if r.Version != nil && r.Version.Prerelease() != "" && c == rollout.Stable {
			t.errorf("channel", "%s is a pre-release: it cannot be on the stable channel", r.Version)
		}
	}
	if t.has("groups") {
		r.Groups = groups(t, "groups")
	}
	if t.has("stages") {
		r.Stages = stages(t)
	}
	if s, ok := t.str("from", false); ok {
		c, err := semver.NewConstraint(s)
		if err != nil {
			t.errorf("from", "%q is not a version constraint (e.g. \">=1.2.0, <2.0.0\"): %v", s, err)
		}
		r.From = c
	}
	r.Yanked = t.boolean("yanked", r.Yanked)
	r.Paused = t.boolean("paused", r.Paused)
	if t.has("halt_on_failure") {
		r.HaltOnFailure = percentValue(t, "halt_on_failure") / 100
	}
	if v, ok := t.use("halt_min_devices"); ok {
		n, isInt := v.(int64)
		if !isInt || n < 1 {
			t.errorf("halt_min_devices", "must be a positive integer")
		} else {
			r.HaltMinDevices = int(n)
		}
		if r.HaltOnFailure == 0 && !t.has("halt_on_failure") {
			t.warnf("halt_min_devices", "has no effect without halt_on_failure")
		}
	}
	return len(Problems((*t.f.probs)[n:]).Errors()) == 0
}

// newRelease returns a release of platform with the rule defaults: a
// pre-release is on the beta channel.
func newRelease(platform string, v *semver.Version) *rollout.Release {
	r := &rollout.Release{Platform: platform, Version: v, HaltMinDevices: defaultHaltMinDevices}
	if v != nil && v.Prerelease() != "" {
		r.Channel = rollout.Beta
	}
	return r
}

// groups reads an array of group names.
func groups(t *table, key string) []string {
	names := t.strings(key)
	seen := map[string]bool{}
	var out []string
	for _, g := range names {
		switch {
		case !groupName.MatchString(g):
			t.errorf(key, "group name %q: use 1-64 lower-case letters, digits, '-' and '_'", g)
		case seen[g]:
			t.warnf(key, "group %q listed twice", g)
		default:
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

// stages reads stages = [{percent = 5}, {percent = 25, after = "24h"}, ...].
func stages(t *table) []rollout.Stage {
	if !t.has("stages") {
		return nil
	}
	var out []rollout.Stage
	for i, st := range t.tables("stages") {
		s := rollout.Stage{}
		pctOK, afterOK := false, true
		if v, ok := st.use("percent"); ok {
			p, isNum := number(v)
			if pctOK = isNum && p > 0 && p <= 100; !pctOK {
				st.errorf("percent", "must be a number above 0 and at most 100")
			}
			s.Percent = p
		} else {
			st.missing("percent")
		}
		if a, ok := st.str("after", false); ok {
			d, err := parseDuration(a)
			if err != nil {
				st.errorf("after", "%v", err)
				afterOK = false
			}
			s.After = d
		}
		st.finish("percent", "after")
		if i > 0 {
			prev := out[i-1]
			if pctOK && s.Percent <= prev.Percent {
				st.errorf("percent", "stages must raise the percentage: %s%% follows %s%%", fmtNum(s.Percent), fmtNum(prev.Percent))
			}
			if afterOK && s.After <= prev.After {
				st.errorf("after", "stages must start one after the other: %s is not after %s", s.After, prev.After)
			}
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		t.errorf("stages", "must list at least one stage, e.g. [{percent = 100}]")
	} else if last := out[len(out)-1]; last.Percent > 0 && last.Percent < 100 {
		t.warnf("stages", "the rollout stops at %s%%: add a last stage with percent = 100 to finish it", fmtNum(last.Percent))
	}
	return out
}

// percentValue reads "5%" (or the number 5) as 5; 0 when the key is unset.
func percentValue(t *table, key string) float64 {
	v, ok := t.use(key)
	if !ok {
		return 0
	}
	var p float64
	switch v := v.(type) {
	case string:
		n, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, "%")), 64)
		if err != nil || !strings.HasSuffix(v, "%") {
			t.errorf(key, "%q is not a percentage (write e.g. \"5%%\")", v)
			return 0
		}
		p = n
	default:
		n, isNum := number(v)
		if !isNum {
			t.errorf(key, "must be a percentage such as \"5%%\", not %s", tomlType(v))
			return 0
		}
		p = n
	}
	if p <= 0 || p > 100 {
		t.errorf(key, "must be above 0%% and at most 100%%")
		return 0
	}
	return p
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// parseDuration reads Go durations ("36h", "90m") and whole days ("3d").
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err == nil && n >= 0 && n <= 3650 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (e.g. \"24h\", \"90m\", \"3d\")", s)
	}
	return d, nil
}

// fingerprint identifies everything about a release that a halt depends
// on: changing any of it in a commit clears an automatic halt.
func fingerprint(r *rollout.Release) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|%v|", r.Platform, r.Version, r.Artifact.SHA256, r.Channel, r.Groups)
	for _, s := range r.Stages {
		fmt.Fprintf(h, "%v/%v,", s.Percent, s.After)
	}
	from := ""
	if r.From != nil {
		from = r.From.String()
	}
	fmt.Fprintf(h, "|%s|%v|%v|%v|%d", from, r.Yanked, r.Paused, r.HaltOnFailure, r.HaltMinDevices)
	if r.Filesystem != nil {
		// Only releases with a filesystem hash it: the fingerprints of the
		// others, and so their halts, stay what they were.
		fmt.Fprintf(h, "|fs %s", r.Filesystem.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
