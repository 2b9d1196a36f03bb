// Package tomlpos finds the source line of every key and table of a TOML
// document, so that errors found after decoding can name file and line.
//
// Use it on documents that a real TOML parser has already accepted: New does
// not validate its input.
//
// # Paths
//
// A path names a key or table the way it appears in the decoded document:
//
//	chip                         top-level key
//	owner.name                   key "name" of table "owner", written either
//	                             as [owner] name = 1 or as owner.name = 1
//	owner                        the [owner] header (or, if the table is only
//	                             implied, the line that first mentions it)
//	release                      the first [[release]] header
//	release[1]                   the second [[release]] header (0-based)
//	release[1].version           key "version" in the second [[release]] table
//	release[0].asset[2].name     nested arrays of tables
//	release[0].stages            the "stages = [...]" key
//	release[0].stages[1]         where the second element of that array starts
//	                             (arrays and inline tables may span lines)
//	release[0].stages[1].percent key "percent" of that inline table
//	matrix[0][1]                 elements of nested arrays
//
// Elements are separated by "." and array indexes are appended as [N].
// An element that is empty or contains '.', '[', ']' or '"' must be written
// as a TOML basic string: in double quotes, with '"' and '\' escaped by a
// backslash (other TOML escapes such as \u0041 are understood too). So the
// key of "a.b" = 1 is the path "a.b", quotes included, and site."x\"y".z
// has the middle element x"y. QuoteKey quotes one element this way. Line
// also accepts unnecessarily quoted elements, so the output of toml.Key.String from github.com/BurntSushi/toml works for keys
// outside arrays of tables.
package tomlpos

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Index maps key paths of one TOML document to the 1-based line where they
// are defined. The zero value and a nil *Index answer 0 for every path.
// An Index is safe for concurrent reads.
type Index struct {
	lines map[string]int
	keys  []string
}

// New indexes src. It never fails and never panics: on input that is not
// valid TOML it indexes what it can. Callers should parse src with a real
// TOML parser first and only rely on the index for valid documents. A
// document nested deeper than MaxDepth (see CheckDepth) gets an empty
// index: indexing it would take time and memory quadratic in its depth.
func New(src []byte) *Index {
	if CheckDepth(src, MaxDepth) != 0 {
		return &Index{lines: map[string]int{}}
	}
	s := &scanner{
		src:      src,
		ix:       &Index{lines: map[string]int{}},
		explicit: map[string]bool{},
		tables:   map[string]int{},
	}
	for i, c := range src {
		if c == '\n' {
			s.nl = append(s.nl, i)
		}
	}
	if bytes.HasPrefix(src, []byte("\xEF\xBB\xBF")) {
		s.pos = 3
	}
	s.document()
	sort.SliceStable(s.ix.keys, func(i, j int) bool {
		return s.ix.lines[s.ix.keys[i]] < s.ix.lines[s.ix.keys[j]]
	})
	return s.ix
}

// Line returns the line of the key or table named by path, or 0 if the
// path is unknown.
func (ix *Index) Line(path string) int {
	if ix == nil {
		return 0
	}
	if n, ok := ix.lines[path]; ok {
		return n
	}
	if strings.Contains(path, `"`) {
		if c, ok := canonical(path); ok {
			return ix.lines[c]
		}
	}
	return 0
}

// Keys returns every recorded path in document order: by line and, within
// a line, as written.
func (ix *Index) Keys() []string {
	if ix == nil {
		return nil
	}
	return append([]string(nil), ix.keys...)
}

// QuoteKey returns a single key name as one element of a path, quoted if
// the path syntax requires it (as QuoteString quotes).
func QuoteKey(name string) string {
	if name != "" && !strings.ContainsAny(name, `.[]"`) {
		return name
	}
	return QuoteString(name)
}

// QuoteString returns s as a TOML basic string: in double quotes, with '"'
// and '\' escaped and control characters written as \uXXXX.
func QuoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// canonical rewrites a path so that every element is quoted as QuoteKey
// would quote it.
func canonical(path string) (string, bool) {
	s := &scanner{src: []byte(path)}
	var b strings.Builder
	for {
		var elem string
		if s.peek() == '"' {
			elem = s.basicString()
		} else {
			start := s.pos
			for s.pos < len(s.src) && s.src[s.pos] != '.' && s.src[s.pos] != '[' {
				s.pos++
			}
			elem = path[start:s.pos]
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(QuoteKey(elem))
		for s.peek() == '[' {
			end := strings.IndexByte(path[s.pos:], ']')
			if end < 0 {
				return "", false
			}
			b.WriteString(path[s.pos : s.pos+end+1])
			s.pos += end + 1
		}
		if s.pos >= len(s.src) {
			return b.String(), true
		}
		if s.peek() != '.' {
			return "", false
		}
		s.pos++
	}
}

// scanner walks a TOML document once and records the lines of its keys.
type scanner struct {
	src      []byte
	pos      int
	nl       []int           // offsets of '\n' in src
	ix       *Index          // result
	explicit map[string]bool // paths defined by a key or header, not implied
	tables   map[string]int  // number of [[...]] headers seen per array path
}

func (s *scanner) line(pos int) int { return sort.SearchInts(s.nl, pos) + 1 }

func (s *scanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

func (s *scanner) has(prefix string) bool {
	return bytes.HasPrefix(s.src[s.pos:], []byte(prefix))
}

// advance moves n bytes forward, but not past the end of the input.
func (s *scanner) advance(n int) { s.pos = min(s.pos+n, len(s.src)) }

// record remembers line for path. A definition replaces an earlier
// implicit mention; otherwise the first line wins.
func (s *scanner) record(path string, line int, explicit bool) {
	if _, seen := s.ix.lines[path]; !seen {
		s.ix.keys = append(s.ix.keys, path)
	} else if !explicit || s.explicit[path] {
		return
	}
	s.ix.lines[path] = line
	if explicit {
		s.explicit[path] = true
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return QuoteKey(name)
	}
	return prefix + "." + QuoteKey(name)
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// skipSpace skips spaces and tabs (and the CR of CRLF).
func (s *scanner) skipSpace() {
	for s.pos < len(s.src) && (s.src[s.pos] == ' ' || s.src[s.pos] == '\t' || s.src[s.pos] == '\r') {
		s.pos++
	}
}

// skipBlank skips whitespace, newlines and comments.
func (s *scanner) skipBlank() {
	for {
		s.skipSpace()
		switch s.peek() {
		case '\n':
			s.pos++
		case '#':
			s.skipLine()
		default:
			return
		}
	}
}

func (s *scanner) skipLine() {
	for s.pos < len(s.src) && s.src[s.pos] != '\n' {
		s.pos++
	}
}

// document scans top-level lines: table headers and key/value pairs.
// Every iteration consumes input, so it terminates on any input.
func (s *scanner) document() {
	prefix := ""
	for {
		s.skipBlank()
		if s.pos >= len(s.src) {
			return
		}
		if s.peek() == '[' {
			prefix = s.header()
		} else {
			s.keyval(prefix)
		}
		s.skipLine()
	}
}

// header scans a [table] or [[array]] header and returns its path.
func (s *scanner) header() string {
	line := s.line(s.pos)
	s.pos++
	array := s.peek() == '['
	if array {
		s.pos++
	}
	keys := s.key()
	if keys == nil {
		return ""
	}
	path := ""
	for _, k := range keys[:len(keys)-1] {
		path = join(path, k)
		s.record(path, line, false)
		if n := s.tables[path]; n > 0 {
			path = index(path, n-1) // the latest table of that array
		}
	}
	path = join(path, keys[len(keys)-1])
	if array {
		n := s.tables[path]
		s.tables[path] = n + 1
		s.record(path, line, false)
		path = index(path, n)
	}
	s.record(path, line, true)
	return path
}

// keyval scans "key = value" and records the key (and any keys inside the
// value) under prefix. It reports whether it saw the '='.
func (s *scanner) keyval(prefix string) bool {
	line := s.line(s.pos)
	keys := s.key()
	if keys == nil || s.peek() != '=' {
		return false
	}
	s.pos++
	path := prefix
	for i, k := range keys {
		path = join(path, k)
		s.record(path, line, i == len(keys)-1)
	}
	s.skipSpace()
	s.value(path)
	return true
}

// key scans a possibly dotted key and the whitespace after it.
func (s *scanner) key() []string {
	var keys []string
	for {
		s.skipSpace()
		var k string
		switch c := s.peek(); {
		case c == '"':
			k = s.basicString()
		case c == '\'':
			k = s.literalString()
		case isBare(c):
			start := s.pos
			for s.pos < len(s.src) && isBare(s.src[s.pos]) {
				s.pos++
			}
			k = string(s.src[start:s.pos])
		default:
			return nil
		}
		keys = append(keys, k)
		s.skipSpace()
		if s.peek() != '.' {
			return keys
		}
		s.pos++
	}
}

// isBare reports whether c may be part of an unquoted key. It is more
// lenient than TOML, which only allows A-Za-z0-9_-.
func isBare(c byte) bool {
	return c != 0 && !strings.ContainsRune(" \t\r\n.=[]{}\"'#,", rune(c))
}

// value skips one value, recording the elements of arrays and the keys of
// inline tables under path.
func (s *scanner) value(path string) {
	switch {
	case s.has(`"""`):
		s.multiline(`"""`)
	case s.has(`'''`):
		s.multiline(`'''`)
	case s.peek() == '"':
		s.basicString()
	case s.peek() == '\'':
		s.literalString()
	case s.peek() == '[':
		s.array(path)
	case s.peek() == '{':
		s.inlineTable(path)
	default:
		start := s.pos
		for s.pos < len(s.src) && !strings.ContainsRune(" \t\r\n,]}#", rune(s.src[s.pos])) {
			s.pos++
			// A date-time may have a space between date and time.
			if s.pos-start == 10 && s.src[start+4] == '-' && s.has(" ") &&
				s.pos+1 < len(s.src) && '0' <= s.src[s.pos+1] && s.src[s.pos+1] <= '9' {
				s.pos++
			}
		}
	}
}

// array scans an array value and records each element as path[i].
func (s *scanner) array(path string) {
	s.pos++
	for i := 0; ; i++ {
		s.skipBlank()
		if s.pos >= len(s.src) || s.peek() == ']' {
			s.advance(1)
			return
		}
		start := s.pos
		elem := index(path, i)
		s.record(elem, s.line(start), true)
		s.value(elem)
		if s.pos == start {
			return // not a value: invalid input
		}
		s.skipBlank()
		if s.peek() == ',' {
			s.pos++
		} else if s.peek() != ']' {
			return
		}
	}
}

// inlineTable scans { key = value, ... }. Newlines, comments and a
// trailing comma are accepted as in TOML 1.1.
func (s *scanner) inlineTable(path string) {
	s.pos++
	for {
		s.skipBlank()
		if s.pos >= len(s.src) || s.peek() == '}' {
			s.advance(1)
			return
		}
		if !s.keyval(path) {
			return
		}
		s.skipBlank()
		if s.peek() == ',' {
			s.pos++
		} else if s.peek() != '}' {
			return
		}
	}
}

// multiline skips a multi-line basic or literal string opened by delim.
func (s *scanner) multiline(delim string) {
	s.pos += 3
	for s.pos < len(s.src) {
		switch {
		case delim == `"""` && s.peek() == '\\':
			s.advance(2)
		case s.has(delim):
			s.pos += 3
			// Up to two quotes right before the delimiter are content.
			for i := 0; i < 2 && s.peek() == delim[0]; i++ {
				s.pos++
			}
			return
		default:
			s.pos++
		}
	}
}

// literalString scans a single-line '...' string and returns its value.
func (s *scanner) literalString() string {
	s.pos++
	start := s.pos
	for s.pos < len(s.src) && s.src[s.pos] != '\'' && s.src[s.pos] != '\n' {
		s.pos++
	}
	v := string(s.src[start:s.pos])
	if s.peek() == '\'' {
		s.pos++
	}
	return v
}

// basicString scans a single-line "..." string and returns its value.
func (s *scanner) basicString() string {
	s.pos++
	var b strings.Builder
	for s.pos < len(s.src) {
		switch c := s.src[s.pos]; c {
		case '"':
			s.pos++
			return b.String()
		case '\n':
			return b.String()
		case '\\':
			s.escape(&b)
		default:
			b.WriteByte(c)
			s.pos++
		}
	}
	return b.String()
}

// escape decodes the escape sequence at s.pos into b.
func (s *scanner) escape(b *strings.Builder) {
	s.pos++ // backslash
	c := s.peek()
	s.advance(1)
	digits := 0
	switch c {
	case 'b':
		b.WriteByte('\b')
	case 't':
		b.WriteByte('\t')
	case 'n':
		b.WriteByte('\n')
	case 'f':
		b.WriteByte('\f')
	case 'r':
		b.WriteByte('\r')
	case 'e':
		b.WriteByte(0x1b)
	case '"', '\\':
		b.WriteByte(c)
	case 'x':
		digits = 2
	case 'u':
		digits = 4
	case 'U':
		digits = 8
	default:
		b.WriteByte('\\')
		b.WriteByte(c)
	}
	if digits == 0 {
		return
	}
	if s.pos+digits <= len(s.src) {
		if r, err := strconv.ParseUint(string(s.src[s.pos:s.pos+digits]), 16, 32); err == nil {
			s.pos += digits
			b.WriteRune(rune(min(r, utf8.MaxRune+1))) // out of range becomes U+FFFD
			return
		}
	}
	b.WriteByte('\\')
	b.WriteByte(c)
}
