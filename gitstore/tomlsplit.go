package gitstore

import (
	"bytes"
	"runtime"
	"sync"

	"github.com/BurntSushi/toml"
)

// splitMin is the size from which a TOML file is parsed in parts: a
// whitelist of 100,000 devices is about 8 MB, and parsing it is the bulk of
// loading such a fleet.
const splitMin = 1 << 20

// parseParallel parses src into a map as toml.Decode would, in parts on
// several cores, when src is large and can be split safely at top-level
// [[header]] lines of the array of tables named header. It returns false
// when it did not (small file, unsafe to split, or a part did not parse):
// the caller then parses the whole file, which also gives syntax errors
// their exact positions.
func parseParallel(src []byte, header string) (map[string]any, bool) {
	n := runtime.GOMAXPROCS(0)
	if len(src) < splitMin || n < 2 {
		return nil, false
	}
	parts := splitAtHeaders(src, "[["+header+"]]", n)
	if len(parts) < 2 {
		return nil, false
	}
	maps := make([]map[string]any, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Go(func() {
			_, errs[i] = toml.Decode(string(p), &maps[i])
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, false
		}
	}
	out := maps[0]
	for _, m := range maps[1:] {
		for k, v := range m {
			old, exists := out[k]
			if !exists {
				out[k] = v
				continue
			}
			a, ok1 := old.([]map[string]any)
			b, ok2 := v.([]map[string]any)
			if !ok1 || !ok2 {
				return nil, false // a key in two parts that is not an array of tables
			}
			out[k] = append(a, b...)
		}
	}
	return out, true
}

// splitAtHeaders cuts src into at most n parts of similar size, each after
// the first starting at a line that is exactly header. Splitting is only
// safe where no line can be inside a multi-line string, so src with any
// multi-line string is not split. Inside arrays a line cannot be a header
// (a bare key is not a value), so such lines are always table headers.
func splitAtHeaders(src []byte, header string, n int) [][]byte {
	if bytes.Contains(src, []byte(`"""`)) || bytes.Contains(src, []byte(`'''`)) {
		return nil
	}
	var parts [][]byte
	start := 0
	target := len(src) / n
	for pos := target; len(parts) < n-1 && pos < len(src); {
		i := bytes.Index(src[pos:], []byte("\n"+header))
		if i < 0 {
			break
		}
		cut := pos + i + 1 // at the header line
		end := cut + len(header)
		// The header must be the whole line (a comment may follow).
		if end < len(src) && src[end] != '\n' && src[end] != '\r' && src[end] != ' ' && src[end] != '\t' && src[end] != '#' {
			pos = end
			continue
		}
		parts = append(parts, src[start:cut])
		start = cut
		pos = cut + target
	}
	if len(parts) == 0 {
		return nil
	}
	return append(parts, src[start:])
}
