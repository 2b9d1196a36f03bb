package gitstore

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/internal/atomicfile"
	"github.com/otagit/otagit/rollout"
)

// The saved copy of the last good commit lets a restart serve it when the
// local clone cannot (damaged, and the remote unreachable to clone it
// again). It is what loading the commit read, recorded as it was loaded:
// the encoded commit object, every path the loader looked at, the bytes
// of the files it read whole (its config files), and the release
// introductions history gave. Binaries are not in it: they are in the
// artifact cache, found by their Git blob. Replayed through the same
// loader, it gives the same snapshot; every file it gives, from the copy
// or from the cache, must hash to its Git blob, or the load fails as a
// storage fault.

// savedName is the saved copy's file in the data directory.
const savedName = "lastgood.json"

// maxSaved bounds the file bytes a saved copy holds; a commit whose
// config is bigger is not saved (a restart then needs the clone).
const maxSaved = 128 << 20

// savedVersion is the saved copy's format.
const savedVersion = 1

// savedCopy is the saved copy's content.
type savedCopy struct {
	Version int    `json:"version"`
	Commit  string `json:"commit"`
	// Object is the encoded commit object; it hashes to Commit.
	Object []byte `json:"object"`
	// Files are the paths the loader opened or listed.
	Files map[string]savedEntry `json:"files"`
	// Dirs are the directories the loader listed, with all their names.
	Dirs   map[string][]string `json:"dirs"`
	Intros []savedIntro        `json:"intros"`
}

type savedEntry struct {
	// Absent is set for a path the loader found not to exist, and
	// NotRegular for one that is not a regular file or directory.
	Absent     bool        `json:"absent,omitempty"`
	NotRegular bool        `json:"not_regular,omitempty"`
	Mode       fs.FileMode `json:"mode"`
	Size       int64       `json:"size"`
	Blob       string      `json:"blob"`
	// Data is the content when the loader read it whole and it is not
	// a binary of the artifact cache.
	Data []byte `json:"data,omitempty"`
}

type savedIntro struct {
	Platform string    `json:"platform"`
	Version  string    `json:"version"`
	Commit   string    `json:"commit"`
	Time     time.Time `json:"time"`
}

// recorder records what a load reads of a commit, to make its saved copy.
// The loader uses a file system from one goroutine; the mutex is for
// safety only.
type recorder struct {
	mu     sync.Mutex
	inner  fs.FS
	files  map[string]savedEntry
	dirs   map[string][]string
	intros map[rollout.ReleaseID]Introduction
	// bad is why no saved copy can be made: an answer of the file
	// system that a copy could not give again.
	bad error
}

func newRecorder(inner fs.FS) *recorder {
	return &recorder{inner: inner, files: map[string]savedEntry{}, dirs: map[string][]string{}}
}

func (r *recorder) noteErr(name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.files[name] = savedEntry{Absent: true}
	case errors.Is(err, config.ErrNotRegular):
		r.files[name] = savedEntry{NotRegular: true}
	case r.bad == nil:
		r.bad = fmt.Errorf("%s: %w", name, err)
	}
}

func (r *recorder) noteInfo(name string, fi fs.FileInfo) {
	h, _ := fi.Sys().(plumbing.Hash)
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.files[name]; ok && old.Data != nil {
		return
	}
	r.files[name] = savedEntry{Mode: fi.Mode(), Size: fi.Size(), Blob: h.String()}
}

func (r *recorder) noteData(name string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.files[name]
	f.Data = data
	r.files[name] = f
}

// noteDir records entries of directory name, appended to names (what was
// listed of it before, by the same open directory), and returns all.
func (r *recorder) noteDir(name string, names []string, entries []fs.DirEntry) ([]string, error) {
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			return names, err
		}
		r.noteInfo(path.Join(name, e.Name()), fi)
		names = append(names, e.Name())
	}
	r.mu.Lock()
	r.dirs[name] = slices.Clone(names)
	r.mu.Unlock()
	return names, nil
}

func (r *recorder) Open(name string) (fs.File, error) {
	f, err := r.inner.Open(name)
	if err != nil {
		r.noteErr(name, err)
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		r.noteErr(name, err)
		return nil, err
	}
	r.noteInfo(name, fi)
	if fi.IsDir() {
		if d, ok := f.(fs.ReadDirFile); ok {
			return &recordDir{ReadDirFile: d, r: r, name: name}, nil
		}
		return f, nil
	}
	return &recordFile{File: f, r: r, name: name, size: fi.Size()}, nil
}

func (r *recorder) Stat(name string) (fs.FileInfo, error) {
	fi, err := fs.Stat(r.inner, name)
	if err != nil {
		r.noteErr(name, err)
		return nil, err
	}
	r.noteInfo(name, fi)
	return fi, nil
}

func (r *recorder) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(r.inner, name)
	if err != nil {
		r.noteErr(name, err)
		return nil, err
	}
	if _, err := r.noteDir(name, nil, entries); err != nil {
		r.noteErr(name, err)
		return nil, err
	}
	return entries, nil
}

// recordFile keeps what is read of a file, up to config.MaxTOMLSize: its
// bytes are saved once it is read whole (to its size or to EOF: the
// loader reads a config file with io.ReadFull of its size).
type recordFile struct {
	fs.File
	r    *recorder
	name string
	size int64
	buf  bytes.Buffer
	done bool // saved, or too big to be
}

func (f *recordFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	if f.done {
		return n, err
	}
	if f.buf.Len()+n > config.MaxTOMLSize {
		f.done, f.buf = true, bytes.Buffer{}
		return n, err
	}
	f.buf.Write(p[:n])
	if (err == nil || err == io.EOF) && (err == io.EOF || int64(f.buf.Len()) == f.size) {
		f.r.noteData(f.name, bytes.Clone(f.buf.Bytes()))
		f.done, f.buf = true, bytes.Buffer{}
	}
	return n, err
}

type recordDir struct {
	fs.ReadDirFile
	r     *recorder
	name  string
	names []string // listed so far
}

func (d *recordDir) ReadDir(n int) ([]fs.DirEntry, error) {
	entries, err := d.ReadDirFile.ReadDir(n)
	var nerr error
	if d.names, nerr = d.r.noteDir(d.name, d.names, entries); nerr != nil && err == nil {
		err = nerr
	}
	return entries, err
}

// saved makes the saved copy of commit h from what was recorded, leaving
// out the bytes of the binaries cache holds.
func (r *recorder) saved(repo *git.Repository, h plumbing.Hash, cache *artifact.Cache) (*savedCopy, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bad != nil {
		return nil, r.bad
	}
	obj, err := repo.Storer.EncodedObject(plumbing.CommitObject, h)
	if err != nil {
		return nil, damaged(err)
	}
	rd, err := obj.Reader()
	if err != nil {
		return nil, damaged(err)
	}
	raw, err := io.ReadAll(rd)
	rd.Close()
	if err != nil {
		return nil, damaged(err)
	}
	sc := &savedCopy{Version: savedVersion, Commit: h.String(), Object: raw, Files: r.files, Dirs: r.dirs}
	total := 0
	for name, f := range sc.Files {
		if f.Data == nil {
			continue
		}
		if _, ok := cache.Lookup(artifact.GitBlobKey(plumbing.NewHash(f.Blob)), f.Size); ok {
			f.Data = nil
			sc.Files[name] = f
			continue
		}
		if total += len(f.Data); total > maxSaved {
			return nil, fmt.Errorf("its config files are more than %d MiB", maxSaved>>20)
		}
	}
	for id, in := range r.intros {
		sc.Intros = append(sc.Intros, savedIntro{Platform: id.Platform, Version: id.Version, Commit: in.Commit, Time: in.Time})
	}
	slices.SortFunc(sc.Intros, func(a, b savedIntro) int {
		return cmp.Or(cmp.Compare(a.Platform, b.Platform), cmp.Compare(a.Version, b.Version))
	})
	return sc, nil
}

func (s *Store) savedPath() string { return filepath.Join(s.opts.DataDir, savedName) }

// writeSaved replaces the saved copy, atomically.
func (s *Store) writeSaved(sc *savedCopy) error {
	raw, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	return atomicfile.Write(s.savedPath(), raw, 0o644)
}

// readSaved reads the saved copy of commit want and returns it with its
// commit, checked to hash to want.
func (s *Store) readSaved(want plumbing.Hash) (*savedCopy, *object.Commit, error) {
	f, err := os.Open(s.savedPath())
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	// Base64 makes the file about 4/3 of what it holds.
	raw, err := io.ReadAll(io.LimitReader(f, maxSaved*2))
	if err != nil {
		return nil, nil, err
	}
	var sc savedCopy
	if err := json.Unmarshal(raw, &sc); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.savedPath(), err)
	}
	if sc.Version != savedVersion {
		return nil, nil, fmt.Errorf("%s: format %d, not %d", s.savedPath(), sc.Version, savedVersion)
	}
	if sc.Commit != want.String() {
		return nil, nil, fmt.Errorf("%s is of commit %s, not of the last good commit %s", s.savedPath(), short(sc.Commit), short(want.String()))
	}
	obj := &plumbing.MemoryObject{}
	obj.SetType(plumbing.CommitObject)
	obj.Write(sc.Object)
	if obj.Hash() != want {
		return nil, nil, fmt.Errorf("%s: the commit object does not hash to %s", s.savedPath(), short(want.String()))
	}
	c := &object.Commit{}
	if err := c.Decode(obj); err != nil {
		return nil, nil, fmt.Errorf("%s: commit: %w", s.savedPath(), err)
	}
	return &sc, c, nil
}

// load loads the saved copy's commit c (as readSaved returned it) with
// the one loader, binaries from cache.
func (sc *savedCopy) load(c *object.Commit, cache *artifact.Cache, opts config.LoadOptions) (*Snapshot, config.Problems, error) {
	var seen faults
	files := &savedFS{sc: sc, cache: cache, when: c.Committer.When, faults: &seen}
	return load(c, files, &seen, func(*rollout.Fleet) (map[rollout.ReleaseID]Introduction, error) { return sc.introductions() }, opts)
}

func (sc *savedCopy) introductions() (map[rollout.ReleaseID]Introduction, error) {
	out := make(map[rollout.ReleaseID]Introduction, len(sc.Intros))
	for _, in := range sc.Intros {
		id, err := rollout.ParseReleaseID(in.Platform, in.Version)
		if err != nil {
			return nil, damaged(fmt.Errorf("saved copy: release %s %s: %w", in.Platform, in.Version, err))
		}
		out[id] = Introduction{Commit: in.Commit, Time: in.Time}
	}
	return out, nil
}

// savedFS is the file system a saved copy gives again: what was recorded,
// binaries read from cache. A path the copy does not know is a storage
// fault, never a missing file: the loader must not see a config the
// commit does not have.
type savedFS struct {
	sc     *savedCopy
	cache  *artifact.Cache
	when   time.Time
	faults *faults
}

func (s *savedFS) fault(op, name string, err error) error {
	err = damaged(fmt.Errorf("saved copy: %s: %w", name, err))
	s.faults.add(err)
	return &fs.PathError{Op: op, Path: name, Err: err}
}

func (s *savedFS) lookup(op, name string) (savedEntry, error) {
	if !fs.ValidPath(name) {
		return savedEntry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	f, ok := s.sc.Files[name]
	if !ok && name != "." {
		dir := path.Dir(name)
		if names, listed := s.sc.Dirs[dir]; listed && !slices.Contains(names, path.Base(name)) {
			return savedEntry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if p, ok := s.sc.Files[dir]; ok && p.Absent {
			return savedEntry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
	}
	switch {
	case !ok && name == ".":
		return savedEntry{Mode: fs.ModeDir | 0o555}, nil
	case !ok:
		return f, s.fault(op, name, errors.New("not recorded"))
	case f.Absent:
		return f, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	case f.NotRegular:
		return f, &fs.PathError{Op: op, Path: name, Err: config.ErrNotRegular}
	}
	return f, nil
}

func (s *savedFS) info(name string, f savedEntry) *savedInfo {
	return &savedInfo{name: path.Base(name), f: f, hash: plumbing.NewHash(f.Blob), when: s.when}
}

func (s *savedFS) Stat(name string) (fs.FileInfo, error) {
	f, err := s.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return s.info(name, f), nil
}

func (s *savedFS) ReadDir(name string) ([]fs.DirEntry, error) {
	// A directory listed is known, although fs.ReadDir gave the loader
	// no entry of its own.
	names, ok := s.sc.Dirs[name]
	if !ok {
		if _, err := s.lookup("readdir", name); err != nil {
			return nil, err
		}
		return nil, s.fault("readdir", name, errors.New("listing not recorded"))
	}
	out := make([]fs.DirEntry, 0, len(names))
	for _, n := range names {
		p := path.Join(name, n)
		f, ok := s.sc.Files[p]
		if !ok {
			return nil, s.fault("readdir", p, errors.New("not recorded"))
		}
		out = append(out, s.info(p, f))
	}
	return out, nil
}

func (s *savedFS) Open(name string) (fs.File, error) {
	f, err := s.lookup("open", name)
	if err != nil {
		return nil, err
	}
	info := s.info(name, f)
	if f.Mode.IsDir() {
		// Listed when read: the loader may only Stat it.
		return &savedDir{info: info, fs: s, name: name}, nil
	}
	var r io.Reader
	var closer io.Closer
	switch {
	case f.Data != nil:
		r = bytes.NewReader(f.Data)
	default:
		b, ok := s.cache.Lookup(artifact.GitBlobKey(info.hash), f.Size)
		if !ok {
			return nil, s.fault("open", name, fmt.Errorf("blob %s is neither saved nor in the artifact cache", info.hash))
		}
		file, err := os.Open(b.File)
		if err != nil {
			return nil, s.fault("open", name, err)
		}
		r, closer = file, file
	}
	h := plumbing.NewHasher(plumbing.BlobObject, f.Size)
	return &savedFile{info: info, r: io.LimitReader(r, f.Size+1), closer: closer, hasher: &h, fs: s, name: name}, nil
}

type savedInfo struct {
	name string
	f    savedEntry
	hash plumbing.Hash
	when time.Time
}

func (i *savedInfo) Name() string               { return i.name }
func (i *savedInfo) Size() int64                { return i.f.Size }
func (i *savedInfo) ModTime() time.Time         { return i.when }
func (i *savedInfo) IsDir() bool                { return i.f.Mode.IsDir() }
func (i *savedInfo) Sys() any                   { return i.hash }
func (i *savedInfo) Mode() fs.FileMode          { return i.f.Mode }
func (i *savedInfo) Type() fs.FileMode          { return i.f.Mode.Type() }
func (i *savedInfo) Info() (fs.FileInfo, error) { return i, nil }

// savedFile is an open file of a savedFS: its content must hash to its
// blob, or the read that ends it fails.
type savedFile struct {
	info    *savedInfo
	r       io.Reader
	closer  io.Closer
	hasher  *plumbing.Hasher
	n       int64
	checked bool
	fs      *savedFS
	name    string
}

func (f *savedFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *savedFile) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	f.hasher.Write(p[:n])
	f.n += int64(n)
	switch size := f.info.f.Size; {
	case err != nil && err != io.EOF:
		return n, f.fs.fault("read", f.name, err)
	case f.n > size || (err == io.EOF && f.n < size):
		return n, f.fs.fault("read", f.name, fmt.Errorf("%d bytes, not the %d of blob %s", f.n, size, f.info.hash))
	case f.n == size && !f.checked:
		// Checked once all is read, not only at EOF: the loader reads a
		// file of known size with io.ReadFull, which stops before EOF.
		f.checked = true
		if f.hasher.Sum() != f.info.hash {
			return n, f.fs.fault("read", f.name, fmt.Errorf("the content does not match blob %s", f.info.hash))
		}
	}
	return n, err
}

func (f *savedFile) Close() error {
	if f.closer != nil {
		return f.closer.Close()
	}
	return nil
}

type savedDir struct {
	info    *savedInfo
	fs      *savedFS
	name    string
	entries []fs.DirEntry
	listed  bool
	off     int
}

func (d *savedDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *savedDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}
func (d *savedDir) Close() error { return nil }

func (d *savedDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.listed {
		entries, err := d.fs.ReadDir(d.name)
		if err != nil {
			return nil, err
		}
		d.entries, d.listed = entries, true
	}
	rest := d.entries[d.off:]
	if n > 0 && len(rest) == 0 {
		return nil, io.EOF
	}
	if n > 0 && n < len(rest) {
		rest = rest[:n]
	}
	d.off += len(rest)
	return rest, nil
}

// save writes the saved copy of snap's commit, made from rec.
func (s *Store) save(rec *recorder, snap *Snapshot) error {
	sc, err := rec.saved(s.repo, plumbing.NewHash(snap.Commit), s.cache)
	if err != nil {
		return err
	}
	return s.writeSaved(sc)
}
