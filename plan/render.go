package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Header says which revisions a rendered plan compares.
type Header struct {
	// Base and Head name the revisions (short hashes, refs).
	Base, Head string
	// HeadProblems are the head's config errors; a plan of an invalid head
	// shows them instead of the changes.
	HeadProblems []string
	// HeadWarnings are the head's warnings.
	HeadWarnings []string
	// BaseInvalid is set when the base does not load; devices are then
	// compared with nothing.
	BaseInvalid bool
	// At is the time the plan was made for.
	At time.Time
}

// Marker starts every Markdown plan, so a pull request comment holding a
// plan can be found and updated in place.
const Marker = "<!-- otagit-plan -->"

// WriteMarkdown renders the plan for a pull request comment or a GitHub
// Actions job summary. Cells are escaped, so device names cannot break
// the tables.
func WriteMarkdown(w io.Writer, h Header, p *Plan) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n### otagit plan: `%s` → `%s`\n\n", Marker, h.Base, h.Head)
	if len(h.HeadProblems) > 0 {
		fmt.Fprintf(&b, "**This config would be refused** (%d errors); the server keeps serving the last good commit.\n\n", len(h.HeadProblems))
		for _, pr := range h.HeadProblems {
			fmt.Fprintf(&b, "- `%s`\n", cell(pr))
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "**%s**", p.Summary())
	if !h.At.IsZero() {
		fmt.Fprintf(&b, " (as of %s)", h.At.UTC().Format("2006-01-02 15:04 MST"))
	}
	b.WriteString("\n\n")
	if h.BaseInvalid {
		b.WriteString("> The base does not load; devices are compared with an empty config.\n\n")
	}
	if len(p.Devices) > 0 {
		b.WriteString("| Device | MAC | Platform | Before | After | Why | Runs | Offered now |\n|---|---|---|---|---|---|---|---|\n")
		for _, d := range p.Devices {
			before := version(d.Before)
			if d.Kind == KindNew {
				before = KindNew
			}
			after := version(d.After.EndsOn)
			switch {
			case d.Kind == KindGone:
				after = KindGone
			case d.After.Loops:
				after += " (never settles)"
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s | %s | %s |\n", cell(d.Name), d.MAC, d.Platform,
				cell(before), cell(after), cell(d.After.Reason), cell(runs(d)), version(d.After.Offered))
		}
		b.WriteString("\n" + legend + "\n\n")
	} else {
		b.WriteString("No device's outcome changes.\n\n")
	}
	if len(p.Added)+len(p.Removed)+len(p.Changed) > 0 {
		b.WriteString("#### Whitelist\n\n")
		for _, d := range p.Added {
			fmt.Fprintf(&b, "- added `%s` %s (%s)\n", d.MAC, cell(d.Name), d.Platform)
		}
		for _, d := range p.Removed {
			fmt.Fprintf(&b, "- removed `%s` %s (%s)\n", d.MAC, cell(d.Name), d.Platform)
		}
		for _, d := range p.Changed {
			fmt.Fprintf(&b, "- changed `%s` %s: %s\n", d.MAC, cell(d.Name), cell(d.What))
		}
		b.WriteString("\n")
	}
	if len(p.Releases) > 0 {
		b.WriteString("#### Releases\n\n")
		for _, r := range p.Releases {
			fmt.Fprintf(&b, "- %s %s %s", r.Kind, r.Platform, r.Version)
			if r.What != "" {
				fmt.Fprintf(&b, ": %s", cell(r.What))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if len(p.Stages) > 0 {
		b.WriteString("#### Staged rollouts\n\n")
		for _, sr := range p.Stages {
			fmt.Fprintf(&b, "**%s %s**\n\n", sr.Platform, sr.Version)
			for i, st := range sr.Stages {
				when := "at its commit"
				if st.After > 0 {
					when = fmtDuration(st.After) + " after its commit"
				}
				if !st.Starts.IsZero() {
					when += ", " + st.Starts.UTC().Format("2006-01-02 15:04 MST")
				}
				state := ""
				if st.Active {
					state = " (in force)"
				}
				fmt.Fprintf(&b, "- stage %d: %g%%, %s%s: %d more devices", i+1, st.Percent, when, state, len(st.Devices))
				if n := len(st.Devices); n > 0 {
					names := make([]string, 0, min(n, 20))
					for _, d := range st.Devices[:min(n, 20)] {
						names = append(names, fmt.Sprintf("`%s` %s", d.MAC, cell(d.Name)))
					}
					fmt.Fprintf(&b, ": %s", strings.Join(names, ", "))
					if n > 20 {
						fmt.Fprintf(&b, " and %d more", n-20)
					}
				}
				b.WriteString("\n")
			}
			b.WriteString("\n")
		}
	}
	if len(h.HeadWarnings) > 0 {
		b.WriteString("<details><summary>Warnings</summary>\n\n")
		for _, w := range h.HeadWarnings {
			fmt.Fprintf(&b, "- `%s`\n", cell(w))
		}
		b.WriteString("\n</details>\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON renders the plan for machines.
func WriteJSON(w io.Writer, h Header, p *Plan) error {
	doc := struct {
		Base         string   `json:"base"`
		Head         string   `json:"head"`
		Valid        bool     `json:"valid"`
		Summary      string   `json:"summary"`
		HeadProblems []string `json:"head_problems,omitempty"`
		HeadWarnings []string `json:"head_warnings,omitempty"`
		BaseInvalid  bool     `json:"base_invalid,omitempty"`
		*Plan
	}{Base: h.Base, Head: h.Head, Valid: len(h.HeadProblems) == 0, HeadProblems: h.HeadProblems,
		HeadWarnings: h.HeadWarnings, BaseInvalid: h.BaseInvalid, Plan: p}
	if doc.Valid {
		doc.Summary = p.Summary()
	} else {
		doc.Summary = fmt.Sprintf("%d config errors", len(h.HeadProblems))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// legend explains the device table.
const legend = "Before and After: the version a device ends up on, after every update it is offered, " +
	"with the base and with the head. Offered now: what its next request gets with the head. " +
	"Runs: the version it reports; when unknown, a row holds for the versions it names " +
	"(" + NoRelease + ": none of its platform's releases)."

// runs says which version(s) a line is for.
func runs(d DeviceChange) string {
	switch {
	case d.Runs != "":
		return d.Runs
	case d.AllStarts:
		return "unknown"
	}
	return "unknown: " + startsText(d.Starts)
}

func version(v string) string {
	if v == "" {
		return "—"
	}
	return v
}

// cell escapes text for a Markdown table cell or list item.
func cell(s string) string {
	r := strings.NewReplacer("|", "\\|", "\n", " ", "\r", " ", "`", "'", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}
