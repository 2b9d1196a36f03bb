package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/otagit/otagit/internal/tomlpos"
)

// MaxTOMLSize bounds one config file; a whitelist of 100,000 devices is
// about 10 MB.
const MaxTOMLSize = 64 << 20

// tomlFile is one parsed config file and where its problems go.
type tomlFile struct {
	name  string
	src   []byte
	ix    *tomlpos.Index // built on first use: valid files never need it
	probs *Problems
	// silent files record only that a problem was found (failed), for a
	// reader that will read the file again the ordinary way to report it.
	silent, failed bool
}

// index returns the file's line index, building it on first use.
func (f *tomlFile) index() *tomlpos.Index {
	if f.ix == nil {
		f.ix = tomlpos.New(f.src)
	}
	return f.ix
}

// parseTOML reads and parses name from fsys into a root table. Read and
// syntax errors are recorded and reported by a nil table.
func parseTOML(fsys fs.FS, name string, probs *Problems) *table {
	f := &tomlFile{name: name, probs: probs}
	src, err := readLimited(fsys, name, MaxTOMLSize)
	if err != nil {
		f.add(Problem{Message: err.Error()})
		return nil
	}
	if line := tomlpos.CheckDepth(src, tomlpos.MaxDepth); line != 0 {
		f.add(Problem{Line: line, Message: tooDeep})
		return nil
	}
	m, plain := decodePlain(src)
	if plain {
		f.src = src
		return &table{f: f, m: m}
	}
	if _, err := toml.Decode(string(src), &m); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			f.add(Problem{Line: pe.Position.Line, Message: "TOML syntax: " + pe.Message})
		} else {
			f.add(Problem{Message: "TOML: " + err.Error()})
		}
		return nil
	}
	f.src = src
	return &table{f: f, m: m}
}

// tooDeep is the problem of a file nested deeper than tomlpos.MaxDepth,
// found before it is decoded.
var tooDeep = fmt.Sprintf("arrays and inline tables nest more than %d levels deep: not read", tomlpos.MaxDepth)

func (f *tomlFile) add(p Problem) {
	if f.silent {
		f.failed = true
		return
	}
	p.File = f.name
	*f.probs = append(*f.probs, p)
}

// table is one TOML table being checked against the schema. Every key read
// through its accessors is marked used; finish reports the rest as unknown.
type table struct {
	f    *tomlFile
	path string // key path of the table, "" for the document root
	m    map[string]any
	used []string // keys read; a table has few, and 100,000 maps would not be cheap
	// An element of an array of tables has its path built only when a
	// problem needs it: parent is the array's key path, index its place.
	parent string
	index  int
}

// pathOf returns the table's key path.
func (t *table) pathOf() string {
	if t.path == "" && t.parent != "" {
		t.path = t.parent + "[" + strconv.Itoa(t.index) + "]"
	}
	return t.path
}

// keyPath returns the path of key k in this table, in tomlpos syntax.
func (t *table) keyPath(k string) string {
	k = tomlpos.QuoteKey(k)
	if p := t.pathOf(); p != "" {
		return p + "." + k
	}
	return k
}

// line returns the line of key k, or of the table itself when k is "".
func (t *table) line(k string) int {
	if k == "" {
		if t.pathOf() == "" {
			return 0
		}
		return t.f.index().Line(t.pathOf())
	}
	return t.f.index().Line(t.keyPath(k))
}

// errorf records an error about key k ("" for the table itself).
func (t *table) errorf(k string, format string, args ...any) {
	t.report(k, false, format, args...)
}

// warnf records a warning about key k ("" for the table itself).
func (t *table) warnf(k string, format string, args ...any) {
	t.report(k, true, format, args...)
}

func (t *table) report(k string, warning bool, format string, args ...any) {
	if t.f.silent {
		t.f.failed = true
		return
	}
	key := t.pathOf()
	if k != "" {
		key = t.keyPath(k)
	}
	t.f.add(Problem{Line: t.line(k), Key: key, Message: fmt.Sprintf(format, args...), Warning: warning})
}

func (t *table) use(k string) (any, bool) {
	v, ok := t.m[k]
	if ok {
		if !slices.Contains(t.used, k) {
			t.used = append(t.used, k)
		}
	}
	return v, ok
}

// has reports whether key k is set.
func (t *table) has(k string) bool { _, ok := t.m[k]; return ok }

// str returns the string at k. A missing required key and a value of
// another type are recorded as errors; ok is false then.
func (t *table) str(k string, required bool) (s string, ok bool) {
	v, present := t.use(k)
	if !present {
		if required {
			t.missing(k)
		}
		return "", false
	}
	s, isStr := v.(string)
	if !isStr {
		t.errorf(k, "must be a string, not %s", tomlType(v))
		return "", false
	}
	return s, true
}

// missing reports a required key that is not there: at the table's line
// (its header), naming the key's path.
func (t *table) missing(k string) {
	if t.f.silent {
		t.f.failed = true
		return
	}
	t.f.add(Problem{Line: t.line(""), Key: t.keyPath(k), Message: "missing required key"})
}

// boolean returns the boolean at k, or def when k is not set.
func (t *table) boolean(k string, def bool) bool {
	v, present := t.use(k)
	if !present {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		t.errorf(k, "must be true or false, not %s", tomlType(v))
		return def
	}
	return b
}

// strings returns the array of strings at k (nil when unset).
func (t *table) strings(k string) []string {
	v, present := t.use(k)
	if !present {
		return nil
	}
	arr, ok := v.([]any)
	if !ok {
		t.errorf(k, "must be an array of strings, not %s", tomlType(v))
		return nil
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			t.errorf(k, "element %d must be a string, not %s", i, tomlType(e))
			continue
		}
		out = append(out, s)
	}
	return out
}

// table returns the table at k ([k] or k = {...}), nil when unset or of
// another type (reported).
func (t *table) table(k string) *table {
	v, present := t.use(k)
	if !present {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.errorf(k, "must be a table ([%s]), not %s", k, tomlType(v))
		return nil
	}
	return &table{f: t.f, path: t.keyPath(k), m: m}
}

// tables returns the array of tables at k, [[k]] or k = [{...}, ...].
func (t *table) tables(k string) []*table {
	v, present := t.use(k)
	if !present {
		return nil
	}
	var maps []map[string]any
	switch v := v.(type) {
	case []map[string]any:
		maps = v
	case []any:
		for i, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				t.errorf(k, "element %d must be a table, not %s", i, tomlType(e))
				continue
			}
			maps = append(maps, m)
		}
	default:
		t.errorf(k, "must be an array of tables ([[%s]]), not %s", k, tomlType(v))
		return nil
	}
	out := make([]*table, len(maps))
	for i, m := range maps {
		out[i] = &table{f: t.f, parent: t.keyPath(k), index: i, m: m}
	}
	return out
}

// finish records every key that no accessor read as unknown, naming the
// keys allowed here.
func (t *table) finish(allowed ...string) {
	var unknown []string
	for k := range t.m {
		if !slices.Contains(t.used, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		t.errorf(k, "unknown key (allowed here: %s)", strings.Join(allowed, ", "))
	}
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

// readLimited reads a whole file, refusing files larger than limit bytes.
func readLimited(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 0 && st.Size() <= limit {
		// Size known: one exact buffer instead of a growing one.
		b := make([]byte, st.Size())
		if _, err := io.ReadFull(f, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than the %d bytes allowed", limit)
	}
	return b, nil
}
