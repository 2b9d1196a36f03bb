package artifact

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tmpPrefix starts the name of every temporary file of a Put in the tmp
// directory.
const tmpPrefix = "put-"

// Stats describes what a Cache holds and what its collections removed.
type Stats struct {
	// Files and Bytes count the stored binaries and their size.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// Known counts the content identities (Git blobs, asset versions)
	// this process knows the artifact of without reading them.
	Known int `json:"known"`
	// Collected and CollectedBytes count the artifact files collections
	// removed since the cache was opened, and their size.
	Collected      int   `json:"collected"`
	CollectedBytes int64 `json:"collected_bytes"`
	// LastGCAt is when the last collection ran; zero before the first.
	LastGCAt time.Time `json:"last_gc_at,omitzero"`
}

// Stats returns what the cache holds now, as counted by this process
// (OpenCache and every Collect count the directory afresh). It does no
// I/O.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Known = len(c.byKey)
	return st
}

// Collection is what one Collect removed and kept.
type Collection struct {
	// Files and Bytes are the artifact files removed and their size.
	Files int
	Bytes int64
	// Index counts the index entries removed: entries of removed
	// artifacts, of artifacts no longer on disk, and damaged ones.
	Index int
	// KeptFiles and KeptBytes are the artifact files left.
	KeptFiles int
	KeptBytes int64
}

// Collect removes every artifact whose SHA-256 is not in keep, the index
// entries that point to it, and what this process remembers of it, so
// that disk use is bounded by what keep references. A content collected
// and needed again is read from Git, or downloaded, again: Lookup misses
// it. A file removed while a device downloads it stays readable to that
// download (an open file outlives its name).
//
// Collect must not run while a Put, or a load that will reference what it
// stores, is under way: the new content is not in keep yet. Its caller
// serializes them (package gitstore runs both on the goroutine that owns
// the repository). Errors removing single files are joined in err; the
// rest is still collected.
func (c *Cache) Collect(keep map[string]bool) (Collection, error) {
	var col Collection
	var errs []error

	files, err := c.artifactFiles()
	if err != nil {
		return col, err
	}
	stored := make(map[string]bool, len(files))
	for _, f := range files {
		stored[f.name] = true
	}

	// known are the index entries this process has read or written, by
	// file name: those need no read to know their digest.
	c.mu.Lock()
	known := make(map[string]string, len(c.byKey))
	for k, b := range c.byKey {
		if keep[b.SHA256] {
			known[filepath.Base(c.indexPath(k))] = b.SHA256
		} else {
			delete(c.byKey, k)
		}
	}
	c.mu.Unlock()

	// Index entries go before the files they point to: a crash in
	// between leaves files no entry names, which the next Collect
	// removes, rather than entries that name nothing.
	entries, err := os.ReadDir(filepath.Join(c.dir, "blobs"))
	if err != nil {
		return col, fmt.Errorf("artifact cache: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isIndexName(e.Name()) {
			continue
		}
		p := filepath.Join(c.dir, "blobs", e.Name())
		sum, ok := known[e.Name()]
		if !ok {
			sum, _ = indexDigest(p)
		}
		if keep[sum] && stored[sum] {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		col.Index++
	}

	for _, f := range files {
		if keep[f.name] {
			col.KeptFiles++
			col.KeptBytes += f.size
			continue
		}
		if err := os.Remove(c.Path(f.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			col.KeptFiles++
			col.KeptBytes += f.size
			continue
		}
		col.Files++
		col.Bytes += f.size
	}

	c.mu.Lock()
	c.stats.Files, c.stats.Bytes = col.KeptFiles, col.KeptBytes
	c.stats.Collected += col.Files
	c.stats.CollectedBytes += col.Bytes
	c.stats.LastGCAt = time.Now()
	c.mu.Unlock()
	if len(errs) > 0 {
		return col, fmt.Errorf("artifact cache: collect: %w", errors.Join(errs...))
	}
	return col, nil
}

// RemoveLeftovers removes the temporary files of Puts that no Put of this
// Cache is writing: what a process killed during a Put left behind. It
// returns how many files it removed and their size.
func (c *Cache) RemoveLeftovers() (files int, bytes int64, err error) {
	dir := filepath.Join(c.dir, "tmp")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("artifact cache: %w", err)
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !strings.HasPrefix(e.Name(), tmpPrefix) || !e.Type().IsRegular() {
			continue
		}
		c.mu.Lock()
		busy := c.writing[p]
		c.mu.Unlock()
		if busy {
			continue
		}
		var size int64
		if info, err := e.Info(); err == nil {
			size = info.Size()
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		files++
		bytes += size
	}
	if len(errs) > 0 {
		return files, bytes, fmt.Errorf("artifact cache: remove leftovers: %w", errors.Join(errs...))
	}
	return files, bytes, nil
}

// storedFile is one artifact file: its name (the content's SHA-256) and
// size.
type storedFile struct {
	name string
	size int64
}

// artifactFiles lists the artifact files in the cache directory.
func (c *Cache) artifactFiles() ([]storedFile, error) {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, fmt.Errorf("artifact cache: %w", err)
	}
	var out []storedFile
	for _, e := range entries {
		if !e.Type().IsRegular() || !isDigest(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, storedFile{name: e.Name(), size: info.Size()})
	}
	return out, nil
}

// indexDigest returns the SHA-256 an index entry file names.
func indexDigest(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum, _, _ := strings.Cut(string(raw), " ")
	if !isDigest(sum) {
		return "", errors.New("bad index entry")
	}
	return sum, nil
}

// isIndexName reports whether name is that of an index entry: a Git blob
// hash (40 or 64 hex digits) or the SHA-256 of another key.
func isIndexName(name string) bool {
	if len(name) != 40 && len(name) != 64 {
		return false
	}
	return isHex(name)
}

// isDigest reports whether name is a lower-case hex SHA-256, the name of
// an artifact file.
func isDigest(name string) bool { return len(name) == 64 && isHex(name) }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
