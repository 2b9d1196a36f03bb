package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/rollout"
	"github.com/otagit/otagit/worktree"
)

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", "[DIR]", stderr)
	signing := addSigningFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	trust, err := signing.trust(false)
	if err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usageError(fs, "unexpected argument %q: give at most one DIR", fs.Arg(1))
	}
	dir := "."
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	// What the server will read: the commit this work tree would make.
	fsys, err := worktree.Open(dir)
	if err != nil {
		return err
	}
	if fsys.InRepository() && !fsys.Git() {
		fmt.Fprintf(stderr, "note: Git tracks no file in %s yet, so every file is checked as it is; git add them to commit them\n", dir)
	}
	gh, cleanup, err := cliGitHub(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer cleanup()
	// A GitHub failure is in the warnings; the config is still checked.
	res := config.LoadTree(fsys, config.LoadOptions{Inspector: artifact.ReadInspector{}, GitHub: gh, Ctx: ctx, Trust: trust})
	fleet, probs := res.Fleet, res.Problems
	// Config files the commit would not hold are not checked (the server
	// will not see them either), but their author surely meant them to be.
	untracked, err := fsys.Untracked(config.IsConfigFile)
	if err != nil {
		return err
	}
	for _, u := range untracked {
		probs = append(probs, config.Problem{File: u.Path, Warning: true, Message: "not checked: " + u.Error()})
	}
	actions := os.Getenv("GITHUB_ACTIONS") == "true"
	for _, p := range probs {
		fmt.Fprintln(stdout, p.String())
		if actions {
			fmt.Fprintln(stdout, githubAnnotation(dir, p))
		}
	}
	errs, warns := len(probs.Errors()), len(probs.Warnings())
	if fleet == nil {
		fmt.Fprintf(stdout, "%s: %s, %s: this config would be refused\n", dir, count(errs, "error"), count(warns, "warning"))
		return exitError{1}
	}
	releases := 0
	for _, p := range fleet.Platforms() {
		releases += len(p.Releases)
	}
	fmt.Fprintf(stdout, "%s: ok: %s, %s, %s, %s\n", dir, count(len(fleet.Platforms()), "platform"),
		count(releases, "release"), count(len(fleet.Devices()), "device"), count(warns, "warning"))
	for _, line := range gzipReport(fleet) {
		fmt.Fprintln(stdout, line)
	}
	return nil
}

// gzipReport says, for every release served compressed (gzip = true on
// its platform, or a committed .bin.gz), how many bytes a device
// downloads instead of the image it flashes, and the total.
func gzipReport(fleet *rollout.Fleet) []string {
	var lines []string
	var sent, images int64
	for _, p := range fleet.Platforms() {
		for _, r := range p.Releases {
			a := &r.Artifact
			if a.Saved() == 0 {
				continue
			}
			lines = append(lines, fmt.Sprintf("gzip: %s %s: %s", p.Name, r.Version, a.SizeText()))
			sent += a.Size
			images += a.ImageSize
		}
	}
	if len(lines) > 1 {
		lines = append(lines, fmt.Sprintf("gzip: %d releases: %d bytes sent for %d bytes of images: %d bytes, %.1f%% saved",
			len(lines), sent, images, images-sent, 100*float64(images-sent)/float64(images)))
	}
	return lines
}

// githubAnnotation formats p as a GitHub Actions workflow command
// (::error or ::warning), which the runner turns into an annotation on
// the file and line of a pull request's diff. The file must be a path from
// the repository root: p.File is relative to the config directory dir, so
// it is joined with dir and, when the runner says where the repository is
// checked out ($GITHUB_WORKSPACE), made relative to that, which also makes
// `otagit validate /abs/path` and runs from another working directory
// annotate the right file.
func githubAnnotation(dir string, p config.Problem) string {
	file := filepath.Join(dir, filepath.FromSlash(p.File))
	if ws := os.Getenv("GITHUB_WORKSPACE"); ws != "" {
		if abs, err := filepath.Abs(file); err == nil {
			if rel, err := filepath.Rel(ws, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				file = rel
			}
		}
	}
	level := "error"
	if p.Warning {
		level = "warning"
	}
	props := "file=" + escapeProperty(filepath.ToSlash(file))
	if p.Line > 0 {
		props += fmt.Sprintf(",line=%d", p.Line)
	}
	props += ",title=otagit"
	msg := p.Message
	if p.Key != "" {
		msg = p.Key + ": " + msg
	}
	return "::" + level + " " + props + "::" + escapeData(msg)
}

// escapeData escapes a workflow command's message the way GitHub's
// actions/toolkit does (command.ts escapeData): a newline would end the
// command and a '%' would start an escape.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a workflow command's property value (command.ts
// escapeProperty): besides what escapeData escapes, ',' separates
// properties and ':' ends them.
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// count is n and word, plural unless n is 1: "1 error", "2 errors".
func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
