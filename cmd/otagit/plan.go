package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/access"
	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/plan"
)

// envReadToken holds the token `otagit plan --fleet` sends, unless
// --fleet-token-file names a file.
const envReadToken = "OTAGIT_READ_TOKEN"

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plan", "--base REV [--head REV] [--versions FILE | --fleet URL] [DIR]", stderr)
	base := fs.String("base", "", "revision before the change, e.g. origin/main or a commit hash (required)")
	head := fs.String("head", "HEAD", "revision after the change")
	format := fs.String("format", "markdown", "output: markdown or json")
	at := fs.String("at", "", "time to evaluate staged rollouts at, RFC 3339 (default now)")
	all := fs.Bool("all", false, "list every device, also those whose outcome does not change")
	versions := fs.String("versions", "", "`FILE` of the versions devices run, one device a line: MAC and version, e.g. 18:FE:34:A1:00:01 1.1.0\n"+
		"(a comma may separate them; # starts a comment). Listed devices are planned from their version,\n"+
		"the others from every version they may run")
	fleet := fs.String("fleet", "", "`URL` of a running otagit server: plan devices from the versions they last reported\n"+
		"to it (read from its device API, GET URL/api/devices)")
	fleetToken := fs.String("fleet-token-file", "", "`FILE` holding a read token for --fleet, sent as Authorization: Bearer (or set $"+envReadToken+")")
	fleetTimeout := fs.Duration("fleet-timeout", 30*time.Second, "time limit for reading --fleet")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *base == "":
		return usageError(fs, "missing --base REV, the revision before the change (e.g. origin/main)")
	case fs.NArg() > 1:
		return usageError(fs, "unexpected argument %q: give at most one DIR", fs.Arg(1))
	case *format != "markdown" && *format != "json":
		return usageError(fs, "--format %q: use markdown or json", *format)
	case *versions != "" && *fleet != "":
		return usageError(fs, "--versions and --fleet exclude each other")
	}
	dir := "."
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	in := plan.Input{Now: time.Now(), All: *all}
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fmt.Errorf("--at: %w", err)
		}
		in.Now = t
	}
	switch {
	case *versions != "":
		v, err := readVersionsFile(*versions)
		if err != nil {
			return err
		}
		in.Reported = v.Reported
	case *fleet != "":
		token, err := access.ReadSecret(*fleetToken, envReadToken)
		if err != nil {
			return fmt.Errorf("--fleet-token-file: %w", err)
		}
		fctx, cancel := context.WithTimeout(ctx, *fleetTimeout)
		v, err := plan.FetchVersions(fctx, nil, *fleet, string(token))
		cancel()
		var refused *plan.ServerError
		if errors.As(err, &refused) && refused.Code == http.StatusUnauthorized && len(token) == 0 {
			err = fmt.Errorf("%w (give a read token with --fleet-token-file or $%s)", err, envReadToken)
		}
		if err != nil {
			return fmt.Errorf("--fleet: %w", err)
		}
		in.Reported = v.Reported
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
	res, err := planRevisions(ctx, repo, *base, *head, in, gh)
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

// readVersionsFile reads a --versions file.
func readVersionsFile(name string) (plan.Versions, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("--versions: %w", err)
	}
	defer f.Close()
	return plan.ReadVersions(name, f)
}

// planRevisions loads two revisions of repo and plans the change; in
// gives the time, the devices' versions and what to list.
func planRevisions(ctx context.Context, repo *git.Repository, baseRev, headRev string, in plan.Input, gh config.ReleaseSource) (*plan.Result, error) {
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
	// The two commits share most files: the memos let the second load
	// parse only the whitelists that differ and scan only the binaries
	// that differ, with the same loader, so the plan is what two full
	// loads give (TestPlanSharedParseIsFullLoad).
	opts := config.LoadOptions{Inspector: &artifact.MemoInspector{In: artifact.ReadInspector{}}, GitHub: gh, Ctx: ctx,
		Scans: config.NewScanMemo(), Whitelists: config.NewWhitelistMemo()}
	hist := gitstore.NewHistory()
	baseSnap, _, err := gitstore.LoadCommit(repo, bh, opts, hist)
	if err != nil {
		return nil, err
	}
	headSnap, headProbs, err := gitstore.LoadCommit(repo, hh, opts, hist)
	if err != nil {
		return nil, err
	}
	return plan.FromSnapshots(baseSnap, headSnap, headProbs, in), nil
}
