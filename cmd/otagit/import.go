package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/importer"
	"github.com/otagit/otagit/repoedit"
)

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", "--from KIND SOURCE DIR", stderr)
	kind := fs.String("from", "", "what SOURCE is: "+strings.Join(importer.Kinds, ", "))
	platform := fs.String("platform", "", "platform of every binary (autoconnect, fuota, dir; default: the folder or the app descriptor)")
	chip := fs.String("chip", "", "chip of platforms without a binary to read it from (flask)")
	noGit := fs.Bool("no-git", false, "do not make DIR a Git repository if it is in none")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || *kind == "" {
		fs.Usage()
		return errUsage
	}
	src, dir := pos[0], pos[1]
	opts := importer.Options{Platform: strings.ToLower(*platform)}
	if *chip != "" {
		c, ok := espimage.ParseChip(*chip)
		if !ok {
			return fmt.Errorf("--chip %q is not a chip otagit knows", *chip)
		}
		opts.Chip = c
	}
	found, err := importer.Read(*kind, src, opts)
	if err != nil {
		return err
	}
	if !*noGit {
		if err := ensureRepo(dir); err != nil {
			return err
		}
	}
	rep, err := importer.Apply(found, dir, opts)
	var cerr *repoedit.ConfigError
	if errors.As(err, &cerr) {
		for _, pr := range cerr.Problems {
			fmt.Fprintln(stderr, pr.String())
		}
	}
	if err != nil {
		return err
	}
	printImport(stdout, dir, rep)
	return nil
}

// ensureRepo makes dir (created if missing) a Git repository with branch
// main unless it is inside one, so the import can be staged.
func ensureRepo(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	_, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if !errors.Is(err, git.ErrRepositoryNotExists) {
		return err
	}
	_, err = git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	return err
}

func printImport(stdout io.Writer, dir string, rep importer.Report) {
	for _, a := range rep.Added {
		fmt.Fprintf(stdout, "added   %s\n", a)
	}
	if len(rep.Added) == 0 {
		fmt.Fprintf(stdout, "nothing new to add\n")
	}
	if rep.Present > 0 {
		fmt.Fprintf(stdout, "kept    %d release(s) and device(s) %s has already\n", rep.Present, dir)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(stdout, w.String())
	}
	if len(rep.Skipped) > 0 {
		fmt.Fprintf(stdout, "\nNot carried over:\n")
		for _, s := range rep.Skipped {
			fmt.Fprintf(stdout, "  %s\n", s)
		}
	}
	if len(rep.Notes) > 0 {
		fmt.Fprintf(stdout, "\nTo do by hand:\n")
		for _, n := range rep.Notes {
			fmt.Fprintf(stdout, "  %s\n", n)
		}
	}
	if len(rep.Files) == 0 {
		return
	}
	if rep.Staged {
		fmt.Fprintf(stdout, "\n%d file(s) written and staged. Next:\n  otagit validate %s\n  cd %s && git commit -m \"import\" && git push\n", len(rep.Files), dir, dir)
	} else {
		fmt.Fprintf(stdout, "\n%d file(s) written; %s is in no Git repository, so nothing is staged. Next:\n  otagit validate %s\n", len(rep.Files), dir, dir)
	}
}
