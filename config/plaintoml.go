package config

import (
	"bytes"
	"unicode/utf8"
)

// decodePlain decodes src exactly as toml.Decode into a map[string]any
// would, when src is written in the plain subset of TOML that whitelists
// use: lines that are blank, a comment, an array-of-tables header
// ([[device]]), or a bare key set to a basic string without escapes or to
// a one-line array of them, each optionally followed by a comment. For
// anything else (other values, escapes, dotted keys, keys outside a
// table, a repeated key, CR, invalid UTF-8) it returns ok false and the
// caller decodes with BurntSushi/toml, whose lexer costs most of loading a
// million devices. FuzzPlainTOML checks that both agree wherever this
// decodes. Time and memory are linear in len(src).
func decodePlain(src []byte) (doc map[string]any, ok bool) {
	if bytes.IndexByte(src, '\r') >= 0 || !utf8.Valid(src) {
		return nil, false
	}
	doc = map[string]any{}
	var cur map[string]any
	// The tables of each array header, appended to as headers come, and
	// stored in doc at the end (a slice header in a map would be stale).
	arrays := map[string][]map[string]any{}
	var order []string
	var curName string
	for len(src) > 0 {
		var line []byte
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
		} else {
			line, src = src, nil
		}
		line = skipSpace(line)
		switch {
		case len(line) == 0:
			continue
		case line[0] == '#':
			if !plainComment(line) {
				return nil, false
			}
			continue
		case line[0] == '[':
			if len(line) < 5 || line[1] != '[' {
				return nil, false
			}
			end := bytes.Index(line, []byte("]]"))
			if end < 0 {
				return nil, false
			}
			name := line[2:end]
			if !bareKey(name) || !plainRest(line[end+2:]) {
				return nil, false
			}
			if curName != "" {
				arrays[curName] = append(arrays[curName], cur)
			}
			curName = string(name)
			if _, seen := arrays[curName]; !seen {
				arrays[curName] = nil
				order = append(order, curName)
			}
			cur = map[string]any{}
			continue
		}
		if cur == nil {
			return nil, false // a key outside any [[table]]
		}
		k := 0
		for k < len(line) && isBareKeyByte(line[k]) {
			k++
		}
		if k == 0 {
			return nil, false
		}
		key := line[:k]
		rest := skipSpace(line[k:])
		if len(rest) == 0 || rest[0] != '=' {
			return nil, false
		}
		rest = skipSpace(rest[1:])
		if _, dup := cur[string(key)]; dup {
			return nil, false
		}
		switch {
		case len(rest) > 0 && rest[0] == '"':
			s, after, ok := plainString(rest)
			if !ok || !plainRest(after) {
				return nil, false
			}
			cur[string(key)] = s
		case len(rest) > 0 && rest[0] == '[':
			arr, after, ok := plainArray(rest)
			if !ok || !plainRest(after) {
				return nil, false
			}
			cur[string(key)] = arr
		default:
			return nil, false
		}
	}
	if curName != "" {
		arrays[curName] = append(arrays[curName], cur)
	}
	for _, name := range order {
		doc[name] = arrays[name]
	}
	return doc, true
}

// plainString reads a basic string without escapes at the start of b.
func plainString(b []byte) (s string, rest []byte, ok bool) {
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return string(b[1:i]), b[i+1:], true
		case c == '\\' || (c < 0x20 && c != '\t') || c == 0x7f:
			return "", nil, false
		}
	}
	return "", nil, false
}

// plainArray reads a one-line array of plain strings at the start of b.
func plainArray(b []byte) (arr []any, rest []byte, ok bool) {
	b = skipSpace(b[1:])
	arr = []any{}
	for {
		if len(b) > 0 && b[0] == ']' {
			return arr, b[1:], true
		}
		if len(b) == 0 || b[0] != '"' {
			return nil, nil, false
		}
		s, after, ok := plainString(b)
		if !ok {
			return nil, nil, false
		}
		arr = append(arr, s)
		b = skipSpace(after)
		switch {
		case len(b) > 0 && b[0] == ',':
			b = skipSpace(b[1:])
		case len(b) > 0 && b[0] == ']':
			return arr, b[1:], true
		default:
			return nil, nil, false
		}
	}
}

// plainRest reports whether what follows a value or header is only
// spaces and an optional comment.
func plainRest(b []byte) bool {
	b = skipSpace(b)
	return len(b) == 0 || (b[0] == '#' && plainComment(b))
}

// plainComment reports whether comment holds no control character but
// tab, as TOML requires.
func plainComment(comment []byte) bool {
	for _, c := range comment {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

func bareKey(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isBareKeyByte(c) {
			return false
		}
	}
	return true
}

func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}
