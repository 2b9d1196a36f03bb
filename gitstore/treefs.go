package gitstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/otagit/otagit/config"
)

// TreeFS is a read-only fs.FS over a Git tree: the files of a commit as
// they are in the object database, with no work tree. FileInfo.Sys of a
// file returns its blob's plumbing.Hash, which identifies its content.
// Symbolic links and submodules cannot be opened (config.ErrNotRegular).
// A TreeFS reads through its repository's storage, which is not safe for
// concurrent use; use a TreeFS from the goroutine that owns the
// repository.
type TreeFS struct {
	root *object.Tree
	when time.Time
	// faults, when set, records the storage faults met.
	faults *faults
}

// fault marks err, a failure to read an object, as ErrDamaged and
// records it.
func (t *TreeFS) fault(err error) error {
	err = damaged(err)
	if t.faults != nil {
		t.faults.add(err)
	}
	return err
}

// NewTreeFS returns the file system of tree. modTime is what ModTime
// reports for every entry (a commit's time, usually).
func NewTreeFS(tree *object.Tree, modTime time.Time) *TreeFS {
	return &TreeFS{root: tree, when: modTime}
}

// Open opens the named file or directory.
func (t *TreeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &treeDir{info: t.info(".", filemode.Dir, 0, plumbing.ZeroHash), tree: t.root, fs: t}, nil
	}
	e, err := t.root.FindEntry(name)
	switch {
	case err != nil && notInTree(err):
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case err != nil:
		return nil, &fs.PathError{Op: "open", Path: name, Err: t.fault(err)}
	}
	switch e.Mode {
	case filemode.Dir:
		sub, err := t.root.Tree(name)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: t.fault(err)}
		}
		return &treeDir{info: t.info(name, e.Mode, 0, e.Hash), tree: sub, fs: t}, nil
	case filemode.Regular, filemode.Executable, filemode.Deprecated:
		f, err := t.root.TreeEntryFile(e)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: t.fault(err)}
		}
		tf := &treeFile{info: t.info(name, e.Mode, f.Size, e.Hash), file: f, fs: t}
		if f.Size > largeObject {
			// Streamed by go-git, whose big-object reader has returned
			// wrong bytes: the content must hash to the blob's name.
			h := plumbing.NewHasher(plumbing.BlobObject, f.Size)
			tf.hasher = &h
		}
		return tf, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: config.ErrNotRegular}
}

// ReadDir lists the named directory, sorted by name.
func (t *TreeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := t.Open(name)
	if err != nil {
		return nil, err
	}
	d, ok := f.(*treeDir)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return d.ReadDir(-1)
}

// Stat describes the named file without reading its content.
func (t *TreeFS) Stat(name string) (fs.FileInfo, error) {
	f, err := t.Open(name)
	if err != nil {
		return nil, err
	}
	return f.Stat()
}

func (t *TreeFS) info(name string, mode filemode.FileMode, size int64, h plumbing.Hash) *treeInfo {
	return &treeInfo{name: path.Base(name), mode: mode, size: size, hash: h, when: t.when}
}

type treeInfo struct {
	name string
	mode filemode.FileMode
	size int64
	hash plumbing.Hash
	when time.Time
}

func (i *treeInfo) Name() string       { return i.name }
func (i *treeInfo) Size() int64        { return i.size }
func (i *treeInfo) ModTime() time.Time { return i.when }
func (i *treeInfo) IsDir() bool        { return i.mode == filemode.Dir }
func (i *treeInfo) Sys() any           { return i.hash }
func (i *treeInfo) Mode() fs.FileMode {
	switch i.mode {
	case filemode.Dir:
		return fs.ModeDir | 0o555
	case filemode.Executable:
		return 0o555
	case filemode.Symlink:
		return fs.ModeSymlink | 0o444
	case filemode.Submodule:
		return fs.ModeIrregular
	}
	return 0o444
}

// treeInfo is also the fs.DirEntry of a directory listing.
func (i *treeInfo) Type() fs.FileMode          { return i.Mode().Type() }
func (i *treeInfo) Info() (fs.FileInfo, error) { return i, nil }

type treeFile struct {
	info   *treeInfo
	file   *object.File
	fs     *TreeFS
	r      io.ReadCloser
	hasher *plumbing.Hasher // for streamed files: checks the content at EOF
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *treeFile) Read(p []byte) (int, error) {
	if f.r == nil {
		r, err := f.file.Reader()
		if err != nil {
			return 0, f.fs.fault(err)
		}
		f.r = r
	}
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF {
		return n, f.fs.fault(err)
	}
	if f.hasher != nil {
		f.hasher.Write(p[:n])
		if err == io.EOF && f.hasher.Sum() != f.info.hash {
			return n, f.fs.fault(fmt.Errorf("%s: the content read does not match blob %s", f.info.name, f.info.hash))
		}
	}
	return n, err
}

func (f *treeFile) Close() error {
	if f.r != nil {
		return f.r.Close()
	}
	return nil
}

type treeDir struct {
	info *treeInfo
	tree *object.Tree
	fs   *TreeFS
	off  int
}

func (d *treeDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}
func (d *treeDir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile. Entries are in Git's order, which is
// sorted by name.
func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.tree.Entries[d.off:]
	if n > 0 && len(rest) == 0 {
		return nil, io.EOF
	}
	if n > 0 && n < len(rest) {
		rest = rest[:n]
	}
	out := make([]fs.DirEntry, 0, len(rest))
	for _, e := range rest {
		var size int64
		if e.Mode.IsFile() {
			var err error
			if size, err = d.tree.Size(e.Name); err != nil {
				return nil, &fs.PathError{Op: "readdir", Path: d.info.name, Err: d.fs.fault(err)}
			}
		}
		out = append(out, &treeInfo{name: e.Name, mode: e.Mode, size: size, hash: e.Hash, when: d.fs.when})
	}
	d.off += len(rest)
	return out, nil
}
