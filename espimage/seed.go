package espimage

import (
	"bytes"
	"fmt"
	"io"
)

// SeedMatch reports what the "seed convention" finds in a whole binary: as
// the old Flask update server did, a binary names its platform
// (case-insensitive substring) and carries its version as
// `v<major>.<minor>.<patch>` somewhere.
type SeedMatch struct {
	// PlatformFound is true when the platform name occurs in the binary,
	// compared case-insensitively (ASCII letters only).
	PlatformFound bool
	// Version is the first `v<digits>.<digits>.<digits>` in the binary
	// without its leading "v", or "" if there is none.
	Version string
}

// MaxSeedVersionLen is the longest version string ScanSeedConvention
// reports, "v" included. Longer runs of digits and dots are skipped.
const MaxSeedVersionLen = 64

// seedBufSize is how many bytes ScanSeedConvention reads at a time.
const seedBufSize = 64 << 10

// ScanSeedConvention reads r to the end (or until both the platform and a
// version are found) and reports what the seed convention finds, matching
// the old server's `re.search(platform, data, re.IGNORECASE)` and
// `re.search(rb'v\d+\.\d+\.\d+', data)`, with these differences: platform is
// a literal string, not a regular expression; an empty platform never
// matches; and version strings longer than MaxSeedVersionLen are ignored.
// The "v" must be lower case, as in the old server. Memory use is bounded
// by a fixed buffer plus the length of platform, whatever the size of r.
func ScanSeedConvention(r io.Reader, platform string) (SeedMatch, error) {
	return scanSeed(r, platform, seedBufSize)
}

func scanSeed(r io.Reader, platform string, bufSize int) (SeedMatch, error) {
	var res SeedMatch
	pat := lowerASCII([]byte(platform))
	needPlatform := len(pat) > 0
	var ver versionScanner

	buf := make([]byte, bufSize)
	// window holds the last len(pat)-1 lowered bytes of earlier chunks
	// followed by the lowered current chunk, so matches that span chunk
	// boundaries are found.
	var window []byte
	emptyReads := 0
	for {
		n, err := r.Read(buf)
		if n == 0 && err == nil {
			if emptyReads++; emptyReads >= 100 {
				return res, fmt.Errorf("scan for seed convention: %w", io.ErrNoProgress)
			}
			continue
		}
		emptyReads = 0
		chunk := buf[:n]
		if res.Version == "" {
			if v, ok := ver.feed(chunk); ok {
				res.Version = v
			}
		}
		if needPlatform && !res.PlatformFound && n > 0 {
			window = append(window, chunk...)
			lowerASCII(window[len(window)-n:])
			if bytes.Contains(window, pat) {
				res.PlatformFound = true
			} else if keep := len(pat) - 1; len(window) > keep {
				window = append(window[:0], window[len(window)-keep:]...)
			}
		}
		if res.Version != "" && (res.PlatformFound || !needPlatform) {
			return res, nil
		}
		if err == io.EOF {
			if res.Version == "" {
				res.Version = ver.finish()
			}
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("scan for seed convention: %w", err)
		}
	}
}

// lowerASCII lowers the ASCII letters of b in place and returns b.
func lowerASCII(b []byte) []byte {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return b
}

// versionScanner finds the leftmost match of v[0-9]+\.[0-9]+\.[0-9]+ in a
// stream fed in pieces. A candidate starts at a 'v' and contains only digits
// and dots after it, so candidates never overlap and the first one that
// completes is the leftmost match; the digit runs are maximal because the
// last run ends only at a non-digit (or the end of the stream).
type versionScanner struct {
	state int    // 0 idle; 1 after v; 2 major; 3 after dot; 4 minor; 5 after dot; 6 patch
	cand  []byte // the candidate so far, without the 'v'
	long  bool   // the candidate outgrew MaxSeedVersionLen
}

// feed scans p and returns the version once a match completes inside p.
func (s *versionScanner) feed(p []byte) (string, bool) {
	for _, c := range p {
		digit := '0' <= c && c <= '9'
		switch {
		case s.state == 6 && !digit:
			if v, ok := s.complete(); ok {
				return v, true
			}
			s.reset(c)
		case digit && s.state != 0:
			switch s.state {
			case 1, 3, 5:
				s.state++
			}
			s.add(c)
		case c == '.' && (s.state == 2 || s.state == 4):
			s.state++
			s.add(c)
		default:
			s.reset(c)
		}
	}
	return "", false
}

// finish returns the version if the stream ended in the middle of a patch
// number that completes a match.
func (s *versionScanner) finish() string {
	if s.state == 6 {
		if v, ok := s.complete(); ok {
			return v
		}
	}
	return ""
}

func (s *versionScanner) add(c byte) {
	if len(s.cand)+1 >= MaxSeedVersionLen { // +1 for the 'v'
		s.long = true
		return
	}
	s.cand = append(s.cand, c)
}

func (s *versionScanner) complete() (string, bool) {
	if s.long {
		return "", false
	}
	return string(s.cand), true
}

// reset abandons the current candidate; c starts a new one if it is a 'v'.
func (s *versionScanner) reset(c byte) {
	s.cand = s.cand[:0]
	s.long = false
	s.state = 0
	if c == 'v' {
		s.state = 1
	}
}
