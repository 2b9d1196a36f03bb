// Package testrepo makes Git repositories for tests: a bare "remote" in
// t.TempDir() and a work clone to commit and push from, all with go-git.
package testrepo

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/otagit/otagit/espimage"
)

// Repo is a bare repository (the remote a server is pointed at) and a work
// tree that commits and pushes to it on branch main.
type Repo struct {
	t testing.TB
	// Bare is the path of the bare repository.
	Bare string
	// Work is the path of the work tree.
	Work string
	repo *git.Repository
	wt   *git.Worktree
	when time.Time
	// SignKey, when set, signs the commits Commit makes with an OpenPGP
	// key, as go-git does; Signer, when set, signs them instead (an SSH
	// key, for example).
	SignKey *openpgp.Entity
	Signer  git.Signer
}

// New creates an empty bare repository and a work tree for it.
func New(t testing.TB) *Repo {
	t.Helper()
	dir := t.TempDir()
	r := &Repo{t: t, Bare: filepath.Join(dir, "remote.git"), Work: filepath.Join(dir, "work"),
		when: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := git.PlainInitWithOptions(r.Bare, &git.PlainInitOptions{
		Bare: true, InitOptions: git.InitOptions{DefaultBranch: plumbing.Main},
	}); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInitWithOptions(r.Work, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.Main},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{r.Bare}}); err != nil {
		t.Fatal(err)
	}
	r.repo = repo
	if r.wt, err = repo.Worktree(); err != nil {
		t.Fatal(err)
	}
	return r
}

// Write writes data to path (slash-separated) in the work tree.
func (r *Repo) Write(path string, data []byte) {
	r.t.Helper()
	p := filepath.Join(r.Work, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// WriteString writes s to path in the work tree.
func (r *Repo) WriteString(path, s string) { r.t.Helper(); r.Write(path, []byte(s)) }

// WriteFS copies every file of fsys into the work tree.
func (r *Repo) WriteFS(fsys fs.FS) {
	r.t.Helper()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		r.Write(p, b)
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

// Remove deletes path from the work tree.
func (r *Repo) Remove(path string) {
	r.t.Helper()
	if err := os.RemoveAll(filepath.Join(r.Work, filepath.FromSlash(path))); err != nil {
		r.t.Fatal(err)
	}
}

// Commit stages everything and commits it, returning the commit hash.
// Commit times advance one minute per commit from 2026-01-01.
func (r *Repo) Commit(msg string) string {
	r.t.Helper()
	return r.CommitAt(msg, r.when.Add(time.Minute))
}

// CommitAt is Commit with the commit time when, from which later commits
// advance: releases are dated by the commit that introduced them, so a
// test of staged rollouts sets it.
func (r *Repo) CommitAt(msg string, when time.Time) string {
	r.t.Helper()
	if err := r.wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		r.t.Fatal(err)
	}
	r.when = when
	h, err := r.wt.Commit(msg, &git.CommitOptions{
		Author:            &object.Signature{Name: "Test", Email: "test@example.invalid", When: r.when},
		AllowEmptyCommits: true,
		SignKey:           r.SignKey,
		Signer:            r.Signer,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return h.String()
}

// Push pushes main to the bare repository (forced, so tests can rewrite
// history).
func (r *Repo) Push() {
	r.t.Helper()
	err := r.repo.Push(&git.PushOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{"+refs/heads/main:refs/heads/main"},
	})
	if err != nil && err != git.NoErrAlreadyUpToDate {
		r.t.Fatal(err)
	}
}

// CommitPush commits everything and pushes it, returning the commit hash.
func (r *Repo) CommitPush(msg string) string {
	r.t.Helper()
	h := r.Commit(msg)
	r.Push()
	return h
}

// Image returns a small valid-looking firmware image.
func Image(t testing.TB, chip espimage.Chip, project, version string, size int) []byte {
	t.Helper()
	b, err := espimage.Build(espimage.BuildOptions{Chip: chip, ProjectName: project, Version: version, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// PushTo pushes the local main branch to ref of the bare repository, e.g.
// "refs/pull/7/head" for the head of a pull request as GitHub keeps it.
func (r *Repo) PushTo(ref string) {
	r.t.Helper()
	err := r.repo.Push(&git.PushOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{config.RefSpec("+refs/heads/main:" + ref)},
	})
	if err != nil && err != git.NoErrAlreadyUpToDate {
		r.t.Fatal(err)
	}
}

// OpenBare opens the bare repository, to read what was pushed to it.
func (r *Repo) OpenBare() *git.Repository {
	r.t.Helper()
	repo, err := git.PlainOpen(r.Bare)
	if err != nil {
		r.t.Fatal(err)
	}
	return repo
}
