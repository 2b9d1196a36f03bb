package gitstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
)

// ErrNotRunning is returned by LoadForReview when the store's Run loop has
// stopped (or could not open the repository).
var ErrNotRunning = errors.New("store is not running")

// Review is a pull request's base and head, loaded for a plan.
type Review struct {
	// Base and Head are the loaded commits; a Fleet is nil when its
	// commit has errors.
	Base, Head *Snapshot
	// HeadProblems are the head's problems.
	HeadProblems config.Problems
}

// reviewTimeout bounds a review, which holds the goroutine that also
// syncs: a push must not wait long behind a pull request.
const reviewTimeout = 2 * time.Minute

// LoadForReview loads the base and head commits of pull request number
// (GitHub's refs/pull/<number>/head), fetching what the local clone lacks.
// It runs in the store's goroutine, which owns the repository, between
// syncs; it returns when done, when ctx is, or at once with ErrNotRunning
// when Run has stopped (before Run starts, it waits for it). Binaries of the pull request
// are examined but not added to the artifact cache, and a pull request
// from a fork (fork true) makes no GitHub downloads: its GitHub releases
// are reported as not checked.
func (s *Store) LoadForReview(ctx context.Context, baseSHA, headSHA string, number int, fork bool) (*Review, error) {
	if !plumbing.IsHash(baseSHA) || !plumbing.IsHash(headSHA) || number <= 0 {
		return nil, fmt.Errorf("review: bad pull request #%d %q..%q", number, baseSHA, headSHA)
	}
	type result struct {
		r   *Review
		err error
	}
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	done := make(chan result, 1)
	job := func() {
		r, err := s.loadForReview(ctx, plumbing.NewHash(baseSHA), plumbing.NewHash(headSHA), number, fork)
		done <- result{r, err}
	}
	select {
	case <-s.started:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case s.work <- job:
	case <-s.stopped:
		return nil, fmt.Errorf("review of pull request #%d: %w", number, ErrNotRunning)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case res := <-done:
		return res.r, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Store) loadForReview(ctx context.Context, base, head plumbing.Hash, number int, fork bool) (*Review, error) {
	if !s.hasCommit(base) || !s.hasCommit(head) {
		auth, err := s.opts.Remote.auth()
		if err != nil {
			return nil, err
		}
		fctx, cancel := context.WithTimeout(ctx, s.opts.FetchTimeout)
		defer cancel()
		// Pull request heads live under refs/pull on GitHub, forks
		// included; the base is on the served branch or another branch.
		specs := []gitconfig.RefSpec{
			gitconfig.RefSpec(fmt.Sprintf("+refs/pull/%d/head:refs/otagit/pull/%d", number, number)),
			s.opts.Remote.refSpec(),
		}
		err = s.repo.FetchContext(fctx, &git.FetchOptions{RemoteName: "origin", RefSpecs: specs, Auth: auth, Tags: git.NoTags, Force: true})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil, fmt.Errorf("fetch pull request #%d from %s: %w", number, s.opts.Remote, err)
		}
		for _, h := range []plumbing.Hash{base, head} {
			if !s.hasCommit(h) {
				return nil, fmt.Errorf("pull request #%d: commit %s not found after fetching", number, short(h.String()))
			}
		}
	}
	opts := s.loadOptions(ctx)
	opts.Inspector = &artifact.MemoInspector{In: s.cache.Peek()}
	if fork {
		opts.GitHub = nil
	}
	b, _, err := LoadCommit(s.repo, base, opts, s.hist)
	if err != nil {
		return nil, err
	}
	h, probs, err := LoadCommit(s.repo, head, opts, s.hist)
	if err != nil {
		return nil, err
	}
	return &Review{Base: b, Head: h, HeadProblems: probs}, nil
}

func (s *Store) hasCommit(h plumbing.Hash) bool {
	_, err := s.repo.CommitObject(h)
	return err == nil
}
