package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Problem is one finding about a config tree: an error that stops the
// commit from being served, or a warning that does not.
type Problem struct {
	// File is the path inside the config repository, e.g. "platforms/lamp.toml".
	File string `json:"file"`
	// Line is the 1-based line in File, 0 when the problem is about the
	// whole file.
	Line int `json:"line,omitempty"`
	// Key is the TOML key path the problem is about, e.g. "release[1].version".
	Key string `json:"key,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Warning is true for findings that do not stop the commit from being served.
	Warning bool `json:"warning,omitempty"`
}

// String formats the problem as "file:line: key: message", the form
// compilers use, so editors and CI can link to it.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Warning {
		b.WriteString("warning: ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every finding about one config tree, in file order.
type Problems []Problem

// sortByLine orders each file's problems by line, keeping files in the
// order they were first reported.
func (ps Problems) sortByLine() {
	rank := map[string]int{}
	for _, p := range ps {
		if _, ok := rank[p.File]; !ok {
			rank[p.File] = len(rank)
		}
	}
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if c := cmp.Compare(rank[a.File], rank[b.File]); c != 0 {
			return c
		}
		return cmp.Compare(a.Line, b.Line)
	})
}

// Errors returns the problems that are not warnings.
func (ps Problems) Errors() Problems {
	var out Problems
	for _, p := range ps {
		if !p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// Warnings returns the problems that are warnings.
func (ps Problems) Warnings() Problems {
	var out Problems
	for _, p := range ps {
		if p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// Err returns a *ConfigError holding the errors among ps, or nil if there
// are none.
func (ps Problems) Err() error {
	errs := ps.Errors()
	if len(errs) == 0 {
		return nil
	}
	return &ConfigError{Problems: errs}
}

// ErrInvalidConfig is matched (errors.Is) by every *ConfigError.
var ErrInvalidConfig = errors.New("invalid config")

// ConfigError is the error for a config tree that cannot be served.
type ConfigError struct {
	// Problems are the errors found, at least one.
	Problems Problems
}

// Error lists every problem, one per line.
func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return fmt.Sprintf("invalid config (%d errors):\n%s", len(e.Problems), strings.Join(lines, "\n"))
}

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// ErrReleaseNotFound is matched (errors.Is) by ReleaseSource errors for a
// release or asset that does not exist.
var ErrReleaseNotFound = errors.New("release not found")
