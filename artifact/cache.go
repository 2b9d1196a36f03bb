package artifact

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/atomicfile"
)

// Cache is the content-addressed store of firmware binaries on disk:
// artifacts/<sha256> holds the bytes devices download, so requests are
// served from plain files and never from Git objects. It also remembers
// which Git blob has which digests, so a sync reads only binaries it has not
// seen before. A Cache is safe for concurrent use.
//
// One directory is used by one Cache: a process opens it once.
type Cache struct {
	dir string
	mu  sync.Mutex // guards byKey, writing and stats
	// byKey maps a content identity (a Git blob, a GitHub asset version)
	// to the artifact holding its content.
	byKey map[Key]Blob
	// writing holds the temporary files of Puts under way, which
	// RemoveLeftovers must not remove.
	writing map[string]bool
	// stats counts the artifact files and what collections removed.
	stats Stats
	// verified maps an artifact file to the fileID it had when its
	// content was last hashed (see Open).
	verified map[string]fileID
	// damaged signals that a corrupt artifact was removed; capacity 1.
	damaged chan struct{}
	// writeFault, when set, fails every write (see SetWriteFault).
	writeFault atomic.Pointer[error]
}

// ErrStorage marks a failure of the disk the cache is on (full, read-only,
// failing): a resource problem, retried, never a problem of the config
// whose binaries were being stored.
var ErrStorage = errors.New("artifact cache storage failure")

func storageErr(err error) error {
	if errors.Is(err, ErrStorage) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrStorage, err)
}

// SetWriteFault makes every write of a binary into the cache fail with
// err (as ErrStorage), until it is called with nil: fault tests run out of
// disk with it where they cannot fill a real one.
func (c *Cache) SetWriteFault(err error) {
	if err == nil {
		c.writeFault.Store(nil)
		return
	}
	c.writeFault.Store(&err)
}

// diskWriter writes to a cache file, marking its failures ErrStorage.
type diskWriter struct {
	w io.Writer
	c *Cache
}

func (w *diskWriter) Write(p []byte) (int, error) {
	if f := w.c.writeFault.Load(); f != nil {
		return 0, storageErr(*f)
	}
	n, err := w.w.Write(p)
	if err != nil {
		err = storageErr(err)
	}
	return n, err
}

// OpenCache opens (creating it if needed) the cache in dir, and counts
// the artifacts it holds.
func OpenCache(dir string) (*Cache, error) {
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("artifact cache: %w", err)
		}
	}
	c := &Cache{dir: dir, byKey: map[Key]Blob{}, writing: map[string]bool{},
		verified: map[string]fileID{}, damaged: make(chan struct{}, 1)}
	files, err := c.artifactFiles()
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		c.stats.Files++
		c.stats.Bytes += f.size
	}
	return c, nil
}

// Path returns the file that holds the artifact with the given sha256.
func (c *Cache) Path(sha256hex string) string { return filepath.Join(c.dir, sha256hex) }

// Put stores the content read from r, at most limit bytes, and returns its
// Blob. The file appears under its digest only once complete (written to a
// temporary file, synced and renamed), so a crash never leaves a partial
// artifact. A larger content is refused and not stored.
func (c *Cache) Put(r io.Reader, limit int64) (Blob, error) {
	tmp, err := os.CreateTemp(filepath.Join(c.dir, "tmp"), tmpPrefix+"*")
	if err != nil {
		return Blob{}, storageErr(err)
	}
	c.mu.Lock()
	c.writing[tmp.Name()] = true
	c.mu.Unlock()
	defer func() {
		os.Remove(tmp.Name()) // a no-op once renamed
		c.mu.Lock()
		delete(c.writing, tmp.Name())
		c.mu.Unlock()
	}()
	defer tmp.Close()
	bw := bufio.NewWriterSize(&diskWriter{w: tmp, c: c}, 256<<10)
	d := newDigester(bw)
	if err := d.consume(r, limit); err != nil {
		return Blob{}, fmt.Errorf("artifact cache: %w", err)
	}
	if d.size > limit {
		return Blob{}, fmt.Errorf("larger than the %d bytes allowed", limit)
	}
	if err := bw.Flush(); err != nil {
		return Blob{}, storageErr(err)
	}
	if err := tmp.Sync(); err != nil {
		return Blob{}, storageErr(err)
	}
	if err := tmp.Close(); err != nil {
		return Blob{}, storageErr(err)
	}
	b := d.blob()
	b.File = c.Path(b.SHA256)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = os.Lstat(b.File)
	existed := err == nil
	if err := os.Rename(tmp.Name(), b.File); err != nil {
		return Blob{}, storageErr(err)
	}
	if !existed {
		c.stats.Files++
		c.stats.Bytes += b.Size
	}
	if st, err := os.Stat(b.File); err == nil {
		c.verified[b.File] = idOf(st)
	}
	return b, nil
}

// Inspect implements Inspector for a TreeFS: a blob seen before (in this
// process or, through the index on disk, an earlier one) costs no read; a
// new one is copied into the cache once. For any other fs.FS every file is
// read and stored.
func (c *Cache) Inspect(fsys fs.FS, name string) (Blob, error) {
	st, err := fs.Stat(fsys, name)
	if err != nil {
		return Blob{}, err
	}
	if !st.Mode().IsRegular() {
		return Blob{}, errors.New("not a regular file")
	}
	h, isBlob := st.Sys().(plumbing.Hash)
	key := GitBlobKey(h)
	if isBlob {
		if b, ok := c.Lookup(key, st.Size()); ok {
			return b, nil
		}
	}
	f, err := fsys.Open(name)
	if err != nil {
		return Blob{}, err
	}
	defer f.Close()
	b, err := c.Put(f, MaxBinarySize)
	if err != nil {
		return Blob{}, err
	}
	if isBlob {
		c.Remember(key, b)
	}
	return b, nil
}

// Lookup finds the artifact of the content identified by key, in memory
// or in the index on disk, and checks that its file is still there with
// the expected size (any size when size < 0).
func (c *Cache) Lookup(key Key, size int64) (Blob, bool) {
	c.mu.Lock()
	b, ok := c.byKey[key]
	c.mu.Unlock()
	if !ok {
		var err error
		if b, err = c.readIndex(key); err != nil {
			return Blob{}, false
		}
	}
	if size < 0 {
		size = b.Size
	}
	if st, err := os.Stat(b.File); err != nil || st.Size() != size || b.Size != size {
		return Blob{}, false
	}
	if !ok {
		c.mu.Lock()
		c.byKey[key] = b
		c.mu.Unlock()
	}
	return b, true
}

// Remember records that the content identified by key is stored as b, in
// memory and on disk. Failing to write the index only costs a re-read
// after a restart.
//
// An index entry is a line "SHA256 MD5 SIZE", then a line "image1 JSON"
// with what espimage.Scan learned (b.Image), so a restart reads neither
// the content nor, for a compressed binary, inflates it again. An entry
// without that line (written before it existed, or by another layout)
// has its content scanned once when read, and is rewritten.
func (c *Cache) Remember(key Key, b Blob) {
	c.mu.Lock()
	c.byKey[key] = b
	c.mu.Unlock()
	c.writeIndex(key, b)
}

func (c *Cache) writeIndex(key Key, b Blob) {
	entry := fmt.Sprintf("%s %s %d\n", b.SHA256, b.MD5, b.Size)
	if img, err := json.Marshal(imageRecord(b.Image)); err == nil {
		entry += imageLine + string(img) + "\n"
	}
	_ = atomicfile.Write(c.indexPath(key), []byte(entry), 0o644)
}

// indexPath is the index file for key: Git blob hashes as they are, other
// keys by their SHA-256, which is a safe file name.
func (c *Cache) indexPath(key Key) string {
	name := key.id
	if key.kind != gitBlob {
		name = contentName(key.kind, key.id)
	}
	return filepath.Join(c.dir, "blobs", name)
}

func (c *Cache) readIndex(key Key) (Blob, error) {
	raw, err := os.ReadFile(c.indexPath(key))
	if err != nil {
		return Blob{}, err
	}
	first, rest, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(first)
	if len(fields) != 3 || len(fields[0]) != 64 || len(fields[1]) != 32 {
		return Blob{}, errors.New("bad index entry")
	}
	size, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil {
		return Blob{}, err
	}
	b := Blob{SHA256: fields[0], MD5: fields[1], Size: size, File: c.Path(fields[0])}
	f, err := os.Open(b.File)
	if err != nil {
		return Blob{}, err
	}
	defer f.Close()
	head := make([]byte, min(int64(espimage.HeaderLen), size))
	if _, err := io.ReadFull(f, head); err != nil {
		return Blob{}, err
	}
	b.Head = head
	var rec imageRecord
	if img, ok := strings.CutPrefix(strings.TrimSpace(rest), imageLine); ok && json.Unmarshal([]byte(img), &rec) == nil {
		b.Image = espimage.File(rec)
		return b, nil
	}
	// An entry from before the index kept image facts: scan once.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Blob{}, err
	}
	if b.Image, err = espimage.Scan(f, MaxImageSize); err != nil {
		return Blob{}, err
	}
	c.writeIndex(key, b)
	return b, nil
}

// imageRecord is espimage.File as an index entry stores it, as JSON.
type imageRecord espimage.File

// imageLine starts the index line of an imageRecord. Change the number
// when espimage.File changes: entries with another number are scanned
// again.
const imageLine = "image1 "

// Key identifies a content by where it comes from, so that a sync finds
// the artifact of a binary it has seen before without reading it. Build
// one with GitBlobKey or AssetKey; the zero Key identifies nothing.
type Key struct {
	kind keyKind
	id   string
}

type keyKind string

const (
	gitBlob     keyKind = "git"
	githubAsset keyKind = "github"
	gzipCopy    keyKind = "gzip"
)

// GitBlobKey identifies the content of a Git blob.
func GitBlobKey(h plumbing.Hash) Key { return Key{kind: gitBlob, id: h.String()} }

// AssetKey identifies one version of a GitHub release asset: its
// repository, its id and when it was last replaced.
func AssetKey(repo string, id int64, updated time.Time) Key {
	return Key{kind: githubAsset, id: fmt.Sprintf("%s:%d:%d", repo, id, updated.UnixNano())}
}

// String returns the key as text, for logs.
func (k Key) String() string { return string(k.kind) + ":" + k.id }

// Peek returns an Inspector that uses what c knows and reads the rest
// without storing it: a pull request under review must not fill the
// server's disk.
func (c *Cache) Peek() Inspector { return peekInspector{c} }

type peekInspector struct{ c *Cache }

func (p peekInspector) Inspect(fsys fs.FS, name string) (Blob, error) {
	if st, err := fs.Stat(fsys, name); err == nil {
		if h, ok := st.Sys().(plumbing.Hash); ok {
			if b, ok := p.c.Lookup(GitBlobKey(h), st.Size()); ok {
				return b, nil
			}
		}
	}
	return ReadInspector{}.Inspect(fsys, name)
}
