package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"

	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/internal/buildinfo"
)

func runInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("init", "DIR", stderr)
	noGit := fs.Bool("no-git", false, "only write the files; do not make DIR a Git repository")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() == 0:
		return usageError(fs, "missing DIR, the directory to write the starter repository to")
	case fs.NArg() > 1:
		return usageError(fs, "unexpected argument %q: give one DIR", fs.Arg(1))
	}
	dir := fs.Arg(0)
	if err := repotemplate.Write(dir); err != nil {
		return err
	}
	if err := pinWorkflow(dir, buildinfo.Get().Version); err != nil {
		return err
	}
	if !*noGit {
		if err := gitInitAdd(dir); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, `Wrote a starter config repository to %[1]s.

Next steps:
  otagit validate %[1]s          # check it
  cd %[1]s && git commit -m "otagit config"   # files are staged
  git remote add origin <your repository> && git push -u origin main
  otagit serve --repo <your repository>
`, dir)
	return nil
}

// workflowFile is the starter repository's GitHub Actions check, and
// unpinned the line in it that picks the otagit it installs.
const (
	workflowFile = ".github/workflows/otagit.yml"
	unpinned     = "OTAGIT_VERSION: latest"
)

// pinWorkflow pins the starter workflow in dir to version, the version of
// this otagit, so that the check judges changes as this otagit's server
// does; a build that is not a module version ("(devel)") leaves "latest".
func pinWorkflow(dir, version string) error {
	if !strings.HasPrefix(version, "v") {
		return nil
	}
	path := filepath.Join(dir, filepath.FromSlash(workflowFile))
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strings.Replace(string(b), unpinned, "OTAGIT_VERSION: "+version, 1)), 0o644)
}

// gitInitAdd makes dir a Git repository on branch main with every file
// staged, unless it is one already.
func gitInitAdd(dir string) error {
	repo, err := git.PlainOpen(dir)
	if err == git.ErrRepositoryNotExists {
		repo, err = git.PlainInitWithOptions(dir, &git.PlainInitOptions{
			InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"},
		})
	}
	if err != nil {
		return fmt.Errorf("git init %s: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return fmt.Errorf("git add: %w", err)
	}
	return nil
}
