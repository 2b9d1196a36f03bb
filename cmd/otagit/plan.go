package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/plan"
)

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plan", "--base REV --head REV [DIR]", stderr)
	base := fs.String("base", "", "revision before the change, e.g. origin/main or a commit hash (required)")
	head := fs.String("head", "HEAD", "revision after the change")
	format := fs.String("format", "markdown", "output: markdown or json")
	at := fs.String("at", "", "time to evaluate staged rollouts at, RFC 3339 (default now)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *base == "" || fs.NArg() > 1 || (*format != "markdown" && *format != "json") {
		fs.Usage()
		return errUsage
	}
	dir := "."
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	now := time.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fmt.Errorf("--at: %w", err)
		}
		now = t
	}
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	gh, cleanup, err := cliGitHub(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer cleanup()
	res, err := planRevisions(ctx, repo, *base, *head, now, gh)
	if err != nil {
		return err
	}
	if *format == "json" {
		err = plan.WriteJSON(stdout, res.Header, &res.Plan)
	} else {
		err = plan.WriteMarkdown(stdout, res.Header, &res.Plan)
	}
	if err != nil {
		return err
	}
	if len(res.Header.HeadProblems) > 0 {
		return exitError{1}
	}
	return nil
}

// planRevisions loads two revisions of repo and plans the change.
func planRevisions(ctx context.Context, repo *git.Repository, baseRev, headRev string, now time.Time, gh config.ReleaseSource) (*plan.Result, error) {
	resolve := func(rev string) (plumbing.Hash, error) {
		h, err := repo.ResolveRevision(plumbing.Revision(rev))
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("revision %q: %w", rev, err)
		}
		return *h, nil
	}
	bh, err := resolve(baseRev)
	if err != nil {
		return nil, err
	}
	hh, err := resolve(headRev)
	if err != nil {
		return nil, err
	}
	opts := config.LoadOptions{Inspector: &artifact.MemoInspector{In: artifact.ReadInspector{}}, GitHub: gh, Ctx: ctx}
	hist := gitstore.NewHistory()
	baseSnap, _, err := gitstore.LoadCommit(repo, bh, opts, hist)
	if err != nil {
		return nil, err
	}
	headSnap, headProbs, err := gitstore.LoadCommit(repo, hh, opts, hist)
	if err != nil {
		return nil, err
	}
	return plan.FromSnapshots(baseSnap, headSnap, headProbs, plan.Input{Now: now}), nil
}
