package tomlpos

// MaxDepth is how deeply arrays and inline tables may nest in a document
// that is decoded or indexed. Real config files nest two or three levels;
// decoding nesting n levels deep costs time quadratic in n in
// BurntSushi/toml (4,000 levels took 16 s) and in New, so deeper documents
// are refused before either runs.
const MaxDepth = 64

// CheckDepth reports the 1-based line where arrays and inline tables in
// src first nest deeper than limit, or 0 when they never do. It reads
// strings and comments as TOML does, so brackets inside them do not
// count; it does not otherwise validate src. It runs in time linear in
// len(src) and does not allocate.
func CheckDepth(src []byte, limit int) (line int) {
	depth, ln := 0, 1
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '\n':
			ln++
		case '#':
			for i+1 < len(src) && src[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			i, ln = skipString(src, i, ln)
		case '[', '{':
			depth++
			if depth > limit {
				return ln
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return 0
}

// skipString returns the index of the last byte of the string starting at
// src[i] (a quote), and the line it ends on. An unterminated one-line
// string ends at the end of its line.
func skipString(src []byte, i, ln int) (int, int) {
	q := src[i]
	if i+2 < len(src) && src[i+1] == q && src[i+2] == q { // multi-line
		for j := i + 3; j < len(src); j++ {
			switch src[j] {
			case '\n':
				ln++
			case '\\':
				if q == '"' {
					if j+1 < len(src) && src[j+1] == '\n' {
						ln++
					}
					j++
				}
			case q:
				if j+2 < len(src) && src[j+1] == q && src[j+2] == q {
					// Up to two more quotes may belong to the string.
					j += 2
					for k := 0; k < 2 && j+1 < len(src) && src[j+1] == q; k++ {
						j++
					}
					return j, ln
				}
			}
		}
		return len(src), ln
	}
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\n':
			return j - 1, ln
		case '\\':
			if q == '"' && j+1 < len(src) && src[j+1] != '\n' {
				j++
			}
		case q:
			return j, ln
		}
	}
	return len(src), ln
}
