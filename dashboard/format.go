package dashboard

import (
	"fmt"
	"html/template"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/otagit/otagit/internal/buildinfo"
)

// funcs are the helpers templates format values with.
var funcs = template.FuncMap{
	"otagit":   func() string { return buildinfo.Get().String() },
	"when":     when,
	"ago":      ago,
	"until":    until,
	"bytes":    humanBytes,
	"pct":      pct,
	"count":    count,
	"short":    shortHash,
	"stage":    stageName,
	"query":    query,
	"add":      func(a, b int) int { return a + b },
	"fadd":     func(a, b float64) float64 { return a + b },
	"pathPart": url.PathEscape,
}

// when formats a time for people, in UTC; "never" for the zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// ago says how long before now t was: "3 min ago", "2 h ago", "5 days
// ago"; "never" for the zero time.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < time.Minute && d > -time.Minute {
		return "just now" // also a little ahead: clocks of two machines differ
	}
	if d < 0 {
		return "in " + span(-d)
	}
	return span(d) + " ago"
}

// until says how long after now t is: "in 5 h".
func until(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := t.Sub(now)
	if d <= 0 {
		return span(-d) + " ago"
	}
	return "in " + span(d)
}

func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days"
}

// humanBytes formats a size: "1.2 MB", "640 kB", "12 B".
func humanBytes(n int64) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1_000:
		return fmt.Sprintf("%.0f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// pct formats a share (0-1) as a whole percentage, or with one decimal
// below 10%, so that a small share does not read as 0.
func pct(share float64) string {
	p := share * 100
	if p > 0 && p < 10 {
		return strconv.FormatFloat(math.Round(p*10)/10, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(int(math.Round(p))) + "%"
}

// count formats an integer with thousands separators: 100,000.
func count(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + count(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// stageName names a stage index for people, 1-based as the decision
// reasons say it: "stage 2"; "all devices" for -1, a release without
// stages.
func stageName(i int) string {
	if i < 0 {
		return "all devices"
	}
	return "stage " + strconv.Itoa(i+1)
}

// query builds a query string from key, value pairs, leaving out empty
// values: {{query "platform" .P "page" 2}}.
func query(kv ...any) template.URL {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		k := fmt.Sprint(kv[i])
		val := fmt.Sprint(kv[i+1])
		if val != "" && val != "0" {
			v.Set(k, val)
		}
	}
	if len(v) == 0 {
		return ""
	}
	return template.URL("?" + v.Encode())
}
