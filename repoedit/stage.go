package repoedit

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/go-git/go-git/v5"
)

// stage adds the files rels (paths in the config directory dir) to the
// index of the Git repository that holds dir. It reports false, and no
// error, when dir is not inside a Git repository.
func stage(dir string, rels []string) (bool, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return false, err
	}
	root, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return false, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return false, err
	}
	for _, rel := range rels {
		p, err := filepath.Rel(root, filepath.Join(abs, filepath.FromSlash(rel)))
		if err != nil {
			return false, err
		}
		// SkipStatus: only these two files change, so there is no need to
		// hash the whole work tree (every firmware binary) for a status.
		if err := wt.AddWithOptions(&git.AddOptions{Path: filepath.ToSlash(p), SkipStatus: true}); err != nil {
			return false, fmt.Errorf("git add %s: %w", p, err)
		}
	}
	return true, nil
}
