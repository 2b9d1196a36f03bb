package gitstore

import (
	"errors"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/rollout"
)

// maxHistory bounds how far back the introduction of a release is looked
// for. A release older than that many first-parent commits is dated by the
// oldest commit looked at, which only makes its stages complete earlier.
const maxHistory = 10000

// Introduction is the commit that brought a release onto the served
// branch: the oldest commit of the unbroken run of first-parent commits,
// ending at the served one, whose config has the release. Staged rollouts
// measure time from it, so the schedule is reproducible from history and
// visible in review.
type Introduction struct {
	Commit string
	Time   time.Time
}

// History finds release introductions in a repository. It remembers what
// it has parsed, so repeated calls on a growing branch only read the new
// commits. A History is used by one goroutine at a time (the owner of the
// repository).
type History struct {
	// byTree caches the releases declared by a platforms/ tree.
	byTree map[plumbing.Hash]map[rollout.ReleaseID]bool
	// known caches the result of earlier calls, by commit.
	known map[plumbing.Hash]map[rollout.ReleaseID]Introduction
	mu    sync.Mutex // guards the maps, for safety; callers are single-threaded
}

// NewHistory returns an empty History.
func NewHistory() *History {
	return &History{byTree: map[plumbing.Hash]map[rollout.ReleaseID]bool{}, known: map[plumbing.Hash]map[rollout.ReleaseID]Introduction{}}
}

// Introductions returns, for every release of fleet (the config at head),
// the commit that introduced it.
func (h *History) Introductions(repo *git.Repository, head plumbing.Hash, fleet *rollout.Fleet) (map[rollout.ReleaseID]Introduction, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	want := map[rollout.ReleaseID]bool{}
	for _, p := range fleet.Platforms() {
		for _, r := range p.Releases {
			if !fromGitHub(r) { // releases followed on GitHub are dated by GitHub
				want[r.ID()] = true
			}
		}
	}
	if prior, ok := h.known[head]; ok && coversAll(prior, want) {
		return prior, nil
	}
	out := make(map[rollout.ReleaseID]Introduction, len(want))
	open := map[rollout.ReleaseID]bool{} // releases present in every commit walked so far
	for k := range want {
		open[k] = true
	}
	var last *object.Commit
	c, err := repo.CommitObject(head)
	if err != nil {
		return nil, err
	}
	for depth := 0; c != nil && len(open) > 0 && depth < maxHistory; depth++ {
		if prior, ok := h.known[c.Hash]; ok && depth > 0 {
			// An earlier answer for this commit resolves every key still
			// open, since they are all present from here to head.
			for k := range open {
				if in, ok := prior[k]; ok {
					out[k] = in
					delete(open, k)
				}
			}
			if len(open) == 0 {
				break
			}
		}
		keys, err := h.keysAt(c)
		if err != nil {
			return nil, err
		}
		for k := range open {
			if !keys[k] && !keys[unreadable(k.Platform)] {
				if last != nil {
					// Absent here: introduced by the newer commit walked last.
					out[k] = Introduction{Commit: last.Hash.String(), Time: last.Committer.When}
				}
				delete(open, k)
			}
		}
		last = c
		c, err = firstParent(c)
		if err != nil {
			return nil, err
		}
	}
	for k := range open {
		if last != nil {
			// Present since the first commit (or beyond maxHistory).
			out[k] = Introduction{Commit: last.Hash.String(), Time: last.Committer.When}
		}
	}
	h.known[head] = out
	if len(h.known) > 64 {
		// Only recent heads are useful; keep the cache small.
		for k := range h.known {
			if k != head {
				delete(h.known, k)
			}
		}
	}
	return out, nil
}

// fromGitHub reports whether r was followed on GitHub (and so is dated by
// its GitHub release rather than by a commit).
func fromGitHub(r *rollout.Release) bool {
	return r.Artifact.Source.GitHub != nil && r.Artifact.Source.GitHub.Followed
}

func coversAll(m map[rollout.ReleaseID]Introduction, keys map[rollout.ReleaseID]bool) bool {
	for k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

// unreadable is the key that stands for every release of platform when
// the platform's file could not be read: no release has an empty version.
func unreadable(platform string) rollout.ReleaseID { return rollout.ReleaseID{Platform: platform} }

func firstParent(c *object.Commit) (*object.Commit, error) {
	if c.NumParents() == 0 {
		return nil, nil
	}
	return c.Parent(0)
}

// keysAt returns the release keys declared by the platform files of c. A
// platform file that does not parse is recorded as unreadable(platform):
// a broken commit that a later one fixed must not restart the clocks of
// that platform's releases.
func (h *History) keysAt(c *object.Commit) (map[rollout.ReleaseID]bool, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	dir, err := tree.Tree(config.PlatformsDir)
	if errors.Is(err, object.ErrDirectoryNotFound) {
		return map[rollout.ReleaseID]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	if keys, ok := h.byTree[dir.Hash]; ok {
		return keys, nil
	}
	keys := map[rollout.ReleaseID]bool{}
	for _, e := range dir.Entries {
		name, ok := config.PlatformFile(e.Name)
		if !ok || !e.Mode.IsFile() {
			continue
		}
		f, err := dir.TreeEntryFile(&e)
		if err != nil || f.Size > config.MaxTOMLSize {
			// Too big to be a config the loader accepts: do not read it.
			keys[unreadable(name)] = true
			continue
		}
		src, err := f.Contents()
		if err != nil {
			keys[unreadable(name)] = true
			continue
		}
		versions, err := config.ReleaseVersions([]byte(src))
		if err != nil {
			keys[unreadable(name)] = true
			continue
		}
		for _, v := range versions {
			keys[rollout.IDOf(name, v)] = true
		}
	}
	if len(h.byTree) > 4096 {
		clear(h.byTree)
	}
	h.byTree[dir.Hash] = keys
	return keys, nil
}
