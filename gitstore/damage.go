package gitstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/otagit/otagit/artifact"
)

// ErrDamaged marks a failure to read objects of the local clone: a
// truncated or corrupt pack, an object a cut-off fetch never brought. It
// is a storage fault, never a problem of the config: the commit is not
// rejected, the clone is rebuilt from the remote, and what is served
// stays served meanwhile.
var ErrDamaged = errors.New("local clone damaged")

// damaged marks err as ErrDamaged.
func damaged(err error) error {
	if err == nil || errors.Is(err, ErrDamaged) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrDamaged, err)
}

// isStorageFault tells a failure of the disk or of the clone (retried,
// reported as storage trouble) from a problem of the commit's config.
func isStorageFault(err error) bool {
	return errors.Is(err, ErrDamaged) || errors.Is(err, artifact.ErrStorage) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EIO)
}

// notInTree reports whether err from a tree lookup means the path is not
// in the tree, as opposed to the tree's objects being unreadable.
func notInTree(err error) bool {
	return errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) ||
		errors.Is(err, object.ErrFileNotFound)
}

// faults records the first storage fault met while a config is read
// through a TreeFS or stored in the artifact cache: the config loader
// reports every read failure as a problem of the file, and LoadCommit
// turns a recorded fault into an error instead.
type faults struct {
	mu  sync.Mutex
	err error
}

func (f *faults) add(err error) error {
	if err == nil || !isStorageFault(err) {
		return err
	}
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
	return err
}

func (f *faults) first() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// checkComplete reports, as ErrDamaged, whether any object of commit h's
// tree is missing or unreadable: a fetch cut off early can leave the
// tracking ref at a commit whose objects never arrived. Trees are read,
// blobs only looked up in the pack indexes, so it costs little.
func checkComplete(repo *git.Repository, h plumbing.Hash) error {
	c, err := repo.CommitObject(h)
	if err != nil {
		return damaged(fmt.Errorf("commit %s: %w", short(h.String()), err))
	}
	tree, err := c.Tree()
	if err != nil {
		return damaged(fmt.Errorf("commit %s: tree: %w", short(h.String()), err))
	}
	return checkTree(repo, tree, "")
}

func checkTree(repo *git.Repository, t *object.Tree, dir string) error {
	for _, e := range t.Entries {
		switch e.Mode {
		case filemode.Dir:
			sub, err := repo.TreeObject(e.Hash)
			if err != nil {
				return damaged(fmt.Errorf("tree %s%s: %w", dir, e.Name, err))
			}
			if err := checkTree(repo, sub, dir+e.Name+"/"); err != nil {
				return err
			}
		case filemode.Submodule:
		default:
			if err := repo.Storer.HasEncodedObject(e.Hash); err != nil {
				return damaged(fmt.Errorf("blob %s%s: %w", dir, e.Name, err))
			}
		}
	}
	return nil
}

// reclone replaces the local clone with a fresh clone of the remote,
// made beside it and swapped in only once fetched completely: until then
// the damaged one stays (what is served comes from memory and the artifact
// cache, not from the clone). A crash midway leaves a directory that
// start removes, and at worst no clone, which the next sync makes anew.
func (s *Store) reclone(ctx context.Context) error {
	dir := filepath.Join(s.opts.DataDir, "repo.git")
	fresh, old := dir+freshSuffix, dir+damagedSuffix
	if err := errors.Join(os.RemoveAll(fresh), os.RemoveAll(old)); err != nil {
		return err
	}
	start := time.Now()
	repo, err := openRepo(fresh, s.opts.Remote)
	if err != nil {
		return err
	}
	fctx, cancel := context.WithTimeout(ctx, s.opts.FetchTimeout)
	_, err = fetch(fctx, repo, s.opts.Remote)
	cancel()
	if err != nil {
		return errors.Join(err, os.RemoveAll(fresh))
	}
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return errors.Join(err, os.RemoveAll(fresh))
	}
	if err := os.Rename(fresh, dir); err != nil {
		return err
	}
	if s.repo, err = openRepo(dir, s.opts.Remote); err != nil {
		return err
	}
	// Its caches may hold what the damaged clone read.
	s.hist = NewHistory()
	if err := os.RemoveAll(old); err != nil {
		s.log.Warn("cannot remove the damaged clone", "dir", old, "err", err)
	}
	s.log.Info("cloned again", "took", time.Since(start))
	return nil
}

// Directories beside repo.git while it is cloned again.
const (
	freshSuffix   = ".new"
	damagedSuffix = ".damaged"
)
