package config

import (
	"bytes"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
)

// WhitelistMemo remembers the whitelists the fast path parsed, by their
// content, so that a later load given a file of the same content (and the
// same platform names, the only other thing readPart reads) takes what the
// first parse read instead of parsing it again: a plan loads two commits
// that share all but a few of a big fleet's whitelists. What it keeps is
// never modified: each load copies the devices and groups it takes from
// it (see fastWhitelist), since loading gives devices their groups'
// settings. A WhitelistMemo is safe for concurrent use; a nil
// *WhitelistMemo remembers nothing. It keeps every file it is given, so
// it is for a few loads of one repository (otagit plan), not for a
// server's lifetime.
type WhitelistMemo struct {
	seed  maphash.Seed
	mu    sync.Mutex
	files map[uint64][]*memoFile
}

// memoFile is one remembered whitelist: its content, the platform names
// it was read with, and what the fast path read.
type memoFile struct {
	platforms string
	ff        *fastFile
}

// NewWhitelistMemo returns an empty WhitelistMemo.
func NewWhitelistMemo() *WhitelistMemo {
	return &WhitelistMemo{seed: maphash.MakeSeed(), files: map[uint64][]*memoFile{}}
}

// platformKey is the set of platform names readPart checks devices
// against, as one comparable string.
func platformKey(platforms map[string]*platform) string {
	names := make([]string, 0, len(platforms))
	for name := range platforms {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, "\x00")
}

// get returns what the fast path read from a file of exactly src with
// platform names pk, or nil. Content is compared in full, not only by its
// hash, so a hit is the same input, byte for byte.
func (m *WhitelistMemo) get(src []byte, pk string) *fastFile {
	if m == nil {
		return nil
	}
	h := maphash.Bytes(m.seed, src)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.files[h] {
		if f.platforms == pk && bytes.Equal(f.ff.src, src) {
			return f.ff
		}
	}
	return nil
}

// put remembers ff, read from ff.src with platform names pk.
func (m *WhitelistMemo) put(ff *fastFile, pk string) {
	if m == nil {
		return
	}
	h := maphash.Bytes(m.seed, ff.src)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[h] = append(m.files[h], &memoFile{platforms: pk, ff: ff})
}
