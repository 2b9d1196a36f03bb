package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/repoedit"
	"github.com/otagit/otagit/rollout"
)

// runAdd adds a firmware binary as a release of its platform
// (repoedit.AddRelease) and says what it did and what to do next.
func runAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("add", "FILE.bin [DIR]", stderr)
	platformFlag := fs.String("platform", "", "platform to release for (default: the one the binary names)")
	versionFlag := fs.String("version", "", "release version (default: the one the binary carries)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usageError(fs, "missing FILE.bin, the firmware binary to add")
	case len(pos) > 2:
		return usageError(fs, "unexpected argument %q: give FILE.bin and at most one DIR", pos[2])
	}
	file, dir := pos[0], "."
	if len(pos) == 2 {
		dir = pos[1]
	}
	opts := repoedit.Options{Platform: *platformFlag}
	if *versionFlag != "" {
		if opts.Version, err = rollout.ParseReleaseVersion(*versionFlag); err != nil {
			return fmt.Errorf("--version %q is not a semantic version (MAJOR.MINOR.PATCH, e.g. \"1.2.3\")", *versionFlag)
		}
	}

	res, err := repoedit.AddRelease(dir, file, opts)
	if res.Version != nil {
		fmt.Fprintf(stdout, "platform %s (%s), from %s\n", res.Platform.Name, res.Platform.Chip, from(res.PlatformFrom, "--platform"))
		fmt.Fprintf(stdout, "version  %s, from %s\n", res.Version, from(res.VersionFrom, "--version"))
	}
	if res.Added {
		if res.Copied {
			fmt.Fprintf(stdout, "wrote    %s (%d bytes)\n", res.Binary, res.Size)
		} else {
			fmt.Fprintf(stdout, "kept     %s (already this binary)\n", res.Binary)
		}
		fmt.Fprintf(stdout, "appended [[release]] to %s\n", res.PlatformFile)
		for _, w := range res.Warnings {
			fmt.Fprintln(stdout, w.String())
		}
	}
	var cerr *repoedit.ConfigError
	var uerr *config.UndetectedError
	switch {
	case errors.As(err, &cerr):
		for _, pr := range cerr.Problems {
			fmt.Fprintln(stderr, pr.String())
		}
		return err
	case errors.As(err, &uerr):
		return fmt.Errorf("%w; use --%s", err, uerr.What)
	case err != nil:
		return err
	}
	printNextSteps(stdout, dir, res)
	return nil
}

// from is what showed a value: how, or the flag that gave it.
func from(how, flag string) string {
	if how == "" {
		return flag
	}
	return how
}

// printNextSteps says how to commit and push the added release.
func printNextSteps(stdout io.Writer, dir string, res repoedit.Result) {
	cd := ""
	if dir != "." {
		cd = "cd " + dir + " && "
	}
	if res.Staged {
		fmt.Fprintf(stdout, "\nBoth files are staged. Next:\n")
	} else {
		fmt.Fprintf(stdout, "\n%s is not in a Git repository, so nothing is staged. Next, in the config repository:\n", dir)
		cd = ""
	}
	fmt.Fprintf(stdout, "  %sgit commit -m %q\n", cd, res.Platform.Name+" "+res.Version.String())
	fmt.Fprintf(stdout, "  git push        # or push a branch and open a pull request\n")
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (`otagit add lamp.bin --version 1.2.0 fleet`), which
// the flag package alone stops at. It returns the positional arguments;
// everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
