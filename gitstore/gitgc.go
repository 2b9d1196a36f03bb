package gitstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
)

// DefaultMaxPacks is the default of Options.MaxPacks.
const DefaultMaxPacks = 8

// removeFetchLeftovers removes what cut-off fetches and an interrupted
// re-clone left in the data directory: go-git's temporary packs (on a full
// disk each eats the space an operator frees) and the directories of a
// re-clone. It runs on the Run goroutine when no fetch is under way: at
// start and after a failed fetch.
func (s *Store) removeFetchLeftovers(atStart bool) {
	dir := filepath.Join(s.opts.DataDir, "repo.git")
	tmps, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "tmp_pack_*"))
	if atStart {
		tmps = append(tmps, dir+freshSuffix, dir+damagedSuffix)
	}
	var files int
	var bytes int64
	var errs []error
	for _, p := range tmps {
		st, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
			continue
		}
		files++
		bytes += st.Size()
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Warn("cannot remove fetch leftovers", "err", err)
	}
	if files > 0 {
		s.log.Info("removed fetch leftovers", "files", files, "bytes_freed", bytes)
	}
}

// collectGit packs the clone's reachable objects into one pack and
// deletes the others once there are more than MaxPacks: every fetch adds
// a pack, and the objects of commits force-pushed away stay in theirs
// until then. It takes time in proportion to the repository's size and
// runs on the Run goroutine, between syncs.
func (s *Store) collectGit() {
	packs, err := filepath.Glob(filepath.Join(s.opts.DataDir, "repo.git", "objects", "pack", "pack-*.pack"))
	if err != nil || len(packs) <= s.opts.MaxPacks {
		return
	}
	before := packBytes(packs)
	start := time.Now()
	if err := s.repo.RepackObjects(&git.RepackConfig{}); err != nil {
		s.log.Warn("cannot repack the local clone", "err", err)
		return
	}
	after, _ := filepath.Glob(filepath.Join(s.opts.DataDir, "repo.git", "objects", "pack", "pack-*.pack"))
	s.log.Info("local clone repacked", "packs_before", len(packs), "packs_after", len(after),
		"bytes_before", before, "bytes_after", packBytes(after), "took", time.Since(start))
}

func packBytes(packs []string) int64 {
	var n int64
	for _, p := range packs {
		if st, err := os.Stat(p); err == nil && strings.HasSuffix(p, ".pack") {
			n += st.Size()
		}
	}
	return n
}
