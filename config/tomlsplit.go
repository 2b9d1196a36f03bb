package config

import "bytes"

// splitMin is the size from which a whitelist is read in parts (see
// fastWhitelist): one of 100,000 devices is about 8 MB, and parsing it is
// the bulk of loading such a fleet.
const splitMin = 1 << 20

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
