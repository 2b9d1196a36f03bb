package gitstore

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/otagit/otagit/commitsig"
)

// verify checks the signature of commit h when Options.Commits asks for
// signed commits. It returns who signed, or why the commit may not be
// served; err is for a commit that cannot be read, which is a storage
// fault and not a verdict on the commit.
//
// Only the commit to be served is checked. Its signer vouches for the
// history it builds on, as with git verify-commit on a branch head and
// Flux's verification of the revision it applies: the commits of a merged
// pull request need not be signed when the merge commit is.
func (s *Store) verify(h plumbing.Hash) (signer, why string, err error) {
	if s.commits.Load() == nil {
		return "", "", nil
	}
	c, err := s.commit(h)
	if err != nil {
		return "", "", err
	}
	return s.verifyCommit(c)
}

// commit reads commit h from the local clone.
func (s *Store) commit(h plumbing.Hash) (*object.Commit, error) {
	c, err := s.repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", short(h.String()), damaged(err))
	}
	return c, nil
}

// verifyCommit is verify of a commit read: from the clone, or from the
// saved copy of the last good commit.
func (s *Store) verifyCommit(c *object.Commit) (signer, why string, err error) {
	keys := s.commits.Load()
	if keys == nil {
		return "", "", nil
	}
	sg, err := keys.Verify(c)
	switch {
	case errors.Is(err, commitsig.ErrUnsigned), errors.Is(err, commitsig.ErrUntrusted):
		return "", err.Error(), nil
	case err != nil:
		return "", "", err
	}
	return sg.String(), "", nil
}
