package worktree

import (
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"

	"github.com/otagit/otagit/config"
)

// tracked is what Git's index holds of a config directory: the files a
// commit made now would contain.
type tracked struct {
	// root is the work tree's root; prefix is the config directory in it,
	// slash-separated, "" at the root.
	root, prefix string
	// files are the index entries by path in the config directory.
	files map[string]filemode.FileMode
	// dirs are the directories that hold files, "." included: a commit
	// holds no empty directory.
	dirs map[string]bool

	ignoreOnce sync.Once
	ignore     gitignore.Matcher // nil when no pattern could be read
}

// readIndex reads the index of repo's work tree for the config directory
// dir (absolute, links resolved).
func readIndex(repo *git.Repository, dir string) (*tracked, error) {
	wt, err := repo.Worktree()
	if err != nil {
		return nil, err
	}
	root, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return nil, err
	}
	t := &tracked{root: root, files: map[string]filemode.FileMode{}, dirs: map[string]bool{}}
	if rel != "." {
		t.prefix = filepath.ToSlash(rel)
	}
	idx, err := repo.Storer.Index()
	if err != nil {
		return nil, fmt.Errorf("Git index: %w", err)
	}
	for _, e := range idx.Entries {
		// `git add -N` only announces a file: its content is not staged
		// and a commit does not hold it.
		if e.IntentToAdd {
			continue
		}
		if name, ok := strip(e.Name, t.prefix); ok {
			t.add(name, e.Mode)
		}
	}
	return t, nil
}

// add records the file name and the directories above it.
func (t *tracked) add(name string, mode filemode.FileMode) {
	t.files[name] = mode
	for d := path.Dir(name); !t.dirs[d]; d = path.Dir(d) {
		t.dirs[d] = true
		if d == "." {
			break
		}
	}
}

// with returns a copy of t that also holds names, as regular files.
func (t *tracked) with(names []string) *tracked {
	c := &tracked{root: t.root, prefix: t.prefix, files: maps.Clone(t.files), dirs: maps.Clone(t.dirs)}
	for _, n := range names {
		c.add(n, filemode.Regular)
	}
	return c
}

// notCommitted says why name, which is on disk, is not in the commit.
func (t *tracked) notCommitted(name string) *config.NotCommittedError {
	return &config.NotCommittedError{Path: name, Ignored: t.ignored(name)}
}

// ignored reports whether Git's exclude rules (.gitignore files,
// .git/info/exclude, the user's and the system's core.excludesFile)
// ignore name. They are read once, on the first question; what cannot be
// read ignores nothing.
func (t *tracked) ignored(name string) bool {
	t.ignoreOnce.Do(func() {
		ps, _ := gitignore.ReadPatterns(osfs.New(t.root), nil)
		rootFS := osfs.New("/")
		if global, err := gitignore.LoadGlobalPatterns(rootFS); err == nil {
			ps = append(global, ps...)
		}
		if system, err := gitignore.LoadSystemPatterns(rootFS); err == nil {
			ps = append(system, ps...)
		}
		if len(ps) > 0 {
			t.ignore = gitignore.NewMatcher(ps)
		}
	})
	if t.ignore == nil {
		return false
	}
	p := name
	if t.prefix != "" {
		p = t.prefix + "/" + name
	}
	return t.ignore.Match(strings.Split(p, "/"), false)
}
