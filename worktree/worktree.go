// Package worktree presents a config repository's work tree as the fs.FS
// of the commit it would make, with the server's semantics: symbolic links
// are not followed (a commit stores a link, which the server's TreeFS does
// not follow), and inside a Git work tree only the files Git tracks or has
// staged are there. `otagit validate` and `otagit add` read work trees
// through it, so that they give the answer the server will give.
package worktree

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/otagit/otagit/config"
)

// FS is a config directory as the commit made from it would hold it.
// Content is read from the work tree, so edits not yet staged count, as
// `git commit -a` would commit them; what Git does not know is left out.
//
// Outside a Git work tree, or when Git tracks no file in the directory
// yet, every file is there; symbolic links are never followed.
//
// Errors are those of gitstore.TreeFS for the same commit (an
// *fs.PathError with config.ErrNotRegular for a link, fs.ErrNotExist for a
// file the commit lacks, with config.NotCommittedError saying why when the
// file is on disk), so the loader reports the same problems. An FS is
// safe for concurrent use; it reads the index once, in Open.
type FS struct {
	dir string
	// git is what Git would commit; nil when every file counts.
	git *tracked
	// inRepo is set when dir is in a Git work tree.
	inRepo bool
}

var (
	_ fs.ReadDirFS = (*FS)(nil)
	_ fs.StatFS    = (*FS)(nil)
)

// Open returns the FS of the config directory dir. dir itself may be
// reached through a symbolic link; nothing under it is followed.
func Open(dir string) (*FS, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, err
	}
	if st, err := os.Stat(abs); err != nil {
		return nil, err
	} else if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	f := &FS{dir: abs}
	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: Git repository: %w", dir, err)
	}
	t, err := readIndex(repo, abs)
	if errors.Is(err, git.ErrIsBareRepository) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	f.inRepo = true
	if len(t.files) > 0 {
		f.git = t
	}
	return f, nil
}

// Git reports whether f holds only what Git would commit: the directory
// is in a Git work tree that tracks files in it.
func (f *FS) Git() bool { return f.git != nil }

// InRepository reports whether the directory is in a Git work tree, even
// one that tracks nothing in it yet.
func (f *FS) InRepository() bool { return f.inRepo }

// Staging returns an FS that also holds the named files (paths in the
// config directory), as `git add` of them will make it. Outside Git it
// returns f.
func (f *FS) Staging(names ...string) *FS {
	if f.git == nil {
		return f
	}
	g := *f
	g.git = f.git.with(names)
	return &g
}

// Untracked returns the files on disk that a commit would not contain
// (Git does not track them, or ignores them) for which want returns true,
// with what to do about each. Outside Git it returns none.
func (f *FS) Untracked(want func(name string) bool) ([]*config.NotCommittedError, error) {
	if f.git == nil {
		return nil, nil
	}
	var out []*config.NotCommittedError
	err := filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(f.dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if _, ok := f.git.files[name]; !ok && want(name) {
			out = append(out, f.git.notCommitted(name))
		}
		return nil
	})
	return out, err
}

// Open opens the named file or directory.
func (f *FS) Open(name string) (fs.File, error) {
	info, err := f.lstat(name)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		entries, err := f.readDir(name)
		if err != nil {
			return nil, err
		}
		return &dirFile{info: info, entries: entries}, nil
	}
	file, err := os.Open(f.path(name))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: osErr(err)}
	}
	return file, nil
}

// Stat describes the named file without following a symbolic link. Its
// errors say "open", as gitstore.TreeFS's do.
func (f *FS) Stat(name string) (fs.FileInfo, error) { return f.lstat(name) }

// ReadDir lists the named directory, sorted by name: what the commit
// would hold of it.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	info, err := f.lstat(name)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return f.readDir(name)
}

func (f *FS) path(name string) string { return filepath.Join(f.dir, filepath.FromSlash(name)) }

// lstat checks that name is in the commit as a directory or a regular
// file and describes it.
func (f *FS) lstat(name string) (fs.FileInfo, error) {
	fail := func(err error) (fs.FileInfo, error) { return nil, &fs.PathError{Op: "open", Path: name, Err: err} }
	if !fs.ValidPath(name) {
		return fail(fs.ErrInvalid)
	}
	// A tree is not entered through a link: every directory on the way
	// must be one.
	for i := range len(name) {
		if name[i] != '/' {
			continue
		}
		if st, err := os.Lstat(f.path(name[:i])); err != nil || !st.IsDir() {
			return fail(fs.ErrNotExist)
		}
	}
	st, err := os.Lstat(f.path(name))
	if err != nil {
		return fail(osErr(err))
	}
	if f.git != nil {
		mode, tracked := f.git.files[name]
		switch {
		case mode == filemode.Submodule:
			return fail(config.ErrNotRegular)
		case st.IsDir() && !f.git.dirs[name]:
			return fail(fs.ErrNotExist)
		case !st.IsDir() && !tracked:
			return fail(f.git.notCommitted(name))
		}
	}
	switch {
	case st.IsDir():
		if name == "." {
			return dotInfo{st}, nil
		}
		return st, nil
	case st.Mode().IsRegular():
		return st, nil
	}
	return fail(config.ErrNotRegular)
}

// readDir lists the directory name, which lstat accepted.
func (f *FS) readDir(name string) ([]fs.DirEntry, error) {
	entries, err := os.ReadDir(f.path(name))
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: osErr(err)}
	}
	out := entries[:0]
	for _, e := range entries {
		if f.git == nil {
			out = append(out, e)
			continue
		}
		p := path.Join(name, e.Name())
		mode, tracked := f.git.files[p]
		switch {
		case mode == filemode.Submodule:
			out = append(out, submodule{e})
		case e.IsDir() && f.git.dirs[p], !e.IsDir() && tracked:
			out = append(out, e)
		}
	}
	return out, nil
}

// osErr is the error of an *fs.PathError from package os without its
// path, which is the work tree's and not the config's.
func osErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, syscall.ENOENT) || errors.Is(pe.Err, syscall.ENOTDIR) {
			return fs.ErrNotExist
		}
		return pe.Err
	}
	return err
}

// dotInfo names the root directory ".", as fs.FS requires.
type dotInfo struct{ fs.FileInfo }

func (dotInfo) Name() string { return "." }

// submodule is the listing entry of a submodule, which a commit holds as
// a commit of another repository: neither a file nor a directory.
type submodule struct{ fs.DirEntry }

func (submodule) IsDir() bool       { return false }
func (submodule) Type() fs.FileMode { return fs.ModeIrregular }
func (s submodule) Info() (fs.FileInfo, error) {
	info, err := s.DirEntry.Info()
	if err != nil {
		return nil, err
	}
	return irregularInfo{info}, nil
}

type irregularInfo struct{ fs.FileInfo }

func (irregularInfo) IsDir() bool       { return false }
func (irregularInfo) Mode() fs.FileMode { return fs.ModeIrregular }

// dirFile is an open directory: its listing, as ReadDir gives it.
type dirFile struct {
	info    fs.FileInfo
	entries []fs.DirEntry
	off     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errors.New("is a directory")}
}

// ReadDir implements fs.ReadDirFile.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
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

// strip removes prefix and a slash from name; ok is false when name is
// not under prefix ("" is the root, which holds every name).
func strip(name, prefix string) (string, bool) {
	if prefix == "" {
		return name, true
	}
	return strings.CutPrefix(name, prefix+"/")
}
