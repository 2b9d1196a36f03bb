package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/atomicfile"
	"github.com/otagit/otagit/rollout"
	"github.com/otagit/otagit/worktree"
)

// maxAddSize bounds the binary `otagit add` reads (and, for a gzip image,
// what it decompresses to): the loader refuses anything larger anyway.
const maxAddSize = 128 << 20

func runAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("add", "FILE.bin [DIR]", stderr)
	platformFlag := fs.String("platform", "", "platform to release for (default: the one the binary names)")
	versionFlag := fs.String("version", "", "release version (default: the one the binary carries)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return errUsage
	}
	file, dir := pos[0], "."
	if len(pos) == 2 {
		dir = pos[1]
	}
	// The config as the server will read it: the commit this work tree
	// would make.
	tree, err := worktree.Open(dir)
	if err != nil {
		return err
	}

	img, err := readImage(file)
	if err != nil {
		return err
	}
	fleet, before := config.Load(tree, artifact.ReadInspector{})
	if fleet == nil {
		for _, pr := range before.Errors() {
			fmt.Fprintln(stderr, pr.String())
		}
		return fmt.Errorf("%s has errors (above); fix them before adding a release", dir)
	}
	p, platformHow, err := img.platform(fleet, *platformFlag)
	if err != nil {
		return err
	}
	if err := img.checkChip(p); err != nil {
		return err
	}
	v, versionHow, err := img.version(p, *versionFlag)
	if err != nil {
		return err
	}
	if r := p.Release(v); r != nil {
		return fmt.Errorf("platform %s already has version %s (binary %s)", p.Name, r.Version, r.Artifact.Source)
	}
	fmt.Fprintf(stdout, "platform %s (%s), from %s\n", p.Name, p.Chip, platformHow)
	fmt.Fprintf(stdout, "version  %s, from %s\n", v, versionHow)

	c := &change{
		dir:  dir,
		bin:  path.Join("firmware", p.Name, p.Name+"-"+v.String()+".bin"),
		toml: path.Join(config.PlatformsDir, p.Name+".toml"),
	}
	if err := c.apply(img.data, v); err != nil {
		if rerr := c.rollback(); rerr != nil {
			return fmt.Errorf("%w (and undoing it failed: %v)", err, rerr)
		}
		return err
	}
	// The one loader decides whether the result is valid, exactly as the
	// server and `otagit validate` will, once both files are staged.
	after, probs := config.Load(tree.Staging(c.bin, c.toml), artifact.ReadInspector{})
	if after == nil || after.Platform(p.Name).Release(v) == nil {
		for _, pr := range probs.Errors() {
			fmt.Fprintln(stderr, pr.String())
		}
		if rerr := c.rollback(); rerr != nil {
			return fmt.Errorf("adding %s %s makes the config invalid (above), and undoing it failed: %v", p.Name, v, rerr)
		}
		return fmt.Errorf("adding %s %s would make the config invalid (above); nothing was changed", p.Name, v)
	}
	if c.copied {
		fmt.Fprintf(stdout, "wrote    %s (%d bytes)\n", c.bin, len(img.data))
	} else {
		fmt.Fprintf(stdout, "kept     %s (already this binary)\n", c.bin)
	}
	fmt.Fprintf(stdout, "appended [[release]] to %s\n", c.toml)
	for _, w := range newWarnings(before, probs) {
		fmt.Fprintln(stdout, w.String())
	}

	staged, err := stage(dir, []string{c.bin, c.toml})
	if err != nil {
		return fmt.Errorf("the release is added but not staged: %w", err)
	}
	cd := ""
	if dir != "." {
		cd = "cd " + dir + " && "
	}
	if staged {
		fmt.Fprintf(stdout, "\nBoth files are staged. Next:\n")
	} else {
		fmt.Fprintf(stdout, "\n%s is not in a Git repository, so nothing is staged. Next, in the config repository:\n", dir)
		cd = ""
	}
	fmt.Fprintf(stdout, "  %sgit commit -m %q\n", cd, p.Name+" "+v.String())
	fmt.Fprintf(stdout, "  git push        # or push a branch and open a pull request\n")
	return nil
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

// addImage is the binary being added.
type addImage struct {
	name string // the file name given, for messages
	data []byte // the file as it is stored
	// content is what to look into: data, or for a gzip image what it
	// decompresses to.
	content []byte
	info    espimage.Info // of content
	gzip    bool
}

// readImage reads file and refuses anything that is not an ESP
// application image (or a gzip-compressed ESP8266 one, which ESP8266 cores
// 3.0 and later flash).
func readImage(file string) (*addImage, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", file)
	}
	data, err := readAtMost(f, maxAddSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	img := &addImage{name: file, data: data, content: data}
	info, err := espimage.Parse(data)
	if err == nil && info.Compressed {
		zr, zerr := gzip.NewReader(bytes.NewReader(data))
		if zerr == nil {
			img.content, zerr = readAtMost(zr, maxAddSize)
		}
		if zerr != nil {
			return nil, fmt.Errorf("%s is not an ESP application image: a gzip file that does not decompress: %v", file, zerr)
		}
		img.gzip = true
		info, err = espimage.Parse(img.content)
		if err == nil && info.Chip != espimage.ESP8266 {
			return nil, fmt.Errorf("%s is a gzip-compressed %s image: only ESP8266 devices accept compressed images", file, info.Chip)
		}
	}
	if err != nil && !errors.Is(err, espimage.ErrUnknownChipID) {
		what := ""
		if img.gzip {
			what = " inside gzip"
		}
		return nil, fmt.Errorf("%s is not an ESP application image%s: %v", file, what, err)
	}
	img.info = info
	return img, nil
}

// readAtMost reads r to the end, refusing more than limit bytes.
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than the %d bytes allowed", limit)
	}
	return b, nil
}

// chipName describes the chip the image is built for.
func (img *addImage) chipName() string {
	if img.info.Chip == "" {
		return fmt.Sprintf("an ESP32-family chip with chip id 0x%04x (unknown to otagit)", img.info.ChipID)
	}
	return string(img.info.Chip)
}

// fits reports whether the image can be for platform p's chip. An image
// with an ESP32-family chip id otagit does not know fits every
// ESP32-family platform: the loader warns about it, the device decides.
func (img *addImage) fits(p *rollout.Platform) bool {
	if img.info.Chip == "" {
		return espimage.Chip(p.Chip).ESP32Family()
	}
	return string(img.info.Chip) == p.Chip
}

func (img *addImage) checkChip(p *rollout.Platform) error {
	if !img.fits(p) {
		return fmt.Errorf("%s is built for %s, but platform %s is %s", img.name, img.chipName(), p.Name, p.Chip)
	}
	return nil
}

// platform returns the platform the release is for and how it was chosen:
// the --platform flag; else the platform that the app descriptor's project
// name is, or contains; else the platform whose name occurs in the binary
// (the seed convention). When several names are contained, one inside
// another ("lamp" in "smart-lamp") counts as the longer one, and platforms
// of another chip drop out.
func (img *addImage) platform(fleet *rollout.Fleet, flagValue string) (*rollout.Platform, string, error) {
	var names []string
	for _, p := range fleet.Platforms() {
		names = append(names, p.Name)
	}
	known := strings.Join(names, ", ")
	if flagValue != "" {
		p := fleet.Platform(flagValue)
		if p == nil {
			return nil, "", fmt.Errorf("unknown platform %q (no %s/%s.toml; platforms: %s)",
				flagValue, config.PlatformsDir, strings.ToLower(flagValue), known)
		}
		return p, "--platform", nil
	}
	why := ""
	if app := img.info.App; app != nil {
		from := fmt.Sprintf("the app descriptor's project name %q", app.ProjectName)
		if p := fleet.Platform(app.ProjectName); p != nil {
			return p, from, nil
		}
		project := strings.ToLower(app.ProjectName)
		cands := img.narrow(fleet, func(p *rollout.Platform) bool { return strings.Contains(project, p.Name) })
		switch len(cands) {
		case 1:
			return cands[0], from, nil
		case 0:
			why = fmt.Sprintf("the app descriptor's project name %q is no platform's, and ", app.ProjectName)
		default:
			return nil, "", fmt.Errorf("cannot tell which platform %s is for: its project name %q contains %s; use --platform",
				img.name, app.ProjectName, strings.Join(platformNames(cands), " and "))
		}
	}
	var scanErr error
	cands := img.narrow(fleet, func(p *rollout.Platform) bool {
		m, err := img.seed(p.Name)
		if err != nil {
			scanErr = err
		}
		return m.PlatformFound
	})
	if scanErr != nil {
		return nil, "", fmt.Errorf("%s: %w", img.name, scanErr)
	}
	switch len(cands) {
	case 1:
		return cands[0], "its name in the binary", nil
	case 0:
		return nil, "", fmt.Errorf("cannot tell which platform %s is for: %sthe binary contains no platform's name (%s); use --platform",
			img.name, why, known)
	}
	return nil, "", fmt.Errorf("cannot tell which platform %s is for: the binary contains the names %s; use --platform",
		img.name, strings.Join(platformNames(cands), " and "))
}

// narrow returns the platforms that match, dropping one whose name is
// inside another match's name, and, when that leaves several, those for
// another chip than the image's.
func (img *addImage) narrow(fleet *rollout.Fleet, match func(*rollout.Platform) bool) []*rollout.Platform {
	var cands []*rollout.Platform
	for _, p := range fleet.Platforms() {
		if match(p) {
			cands = append(cands, p)
		}
	}
	cands = slices.DeleteFunc(slices.Clone(cands), func(p *rollout.Platform) bool {
		return slices.ContainsFunc(cands, func(q *rollout.Platform) bool {
			return q != p && strings.Contains(q.Name, p.Name)
		})
	})
	if len(cands) > 1 {
		if fit := slices.DeleteFunc(slices.Clone(cands), func(p *rollout.Platform) bool { return !img.fits(p) }); len(fit) > 0 {
			cands = fit
		}
	}
	return cands
}

func platformNames(ps []*rollout.Platform) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// seed runs the loader's seed-convention scan over the image's content.
func (img *addImage) seed(platform string) (espimage.SeedMatch, error) {
	return config.SeedScan(bytes.NewReader(img.content), img.info, platform)
}

// version returns the release version and where it came from: the
// --version flag; else the app descriptor's version if it is a semantic
// version; else the first "v1.2.3" in the binary. This is the order in
// which the loader confirms a release's version, so a detected version is
// one the loader confirms.
func (img *addImage) version(p *rollout.Platform, flagValue string) (*semver.Version, string, error) {
	if flagValue != "" {
		v, err := rollout.ParseReleaseVersion(flagValue)
		if err != nil {
			return nil, "", fmt.Errorf("--version %q is not a semantic version (MAJOR.MINOR.PATCH, e.g. \"1.2.3\")", flagValue)
		}
		return v, "--version", nil
	}
	app := img.info.App
	if app != nil {
		if v, err := rollout.ParseReleaseVersion(strings.TrimSpace(app.Version)); err == nil {
			return v, "the app descriptor", nil
		}
	}
	m, err := img.seed(p.Name)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", img.name, err)
	}
	if m.Version != "" {
		v, err := rollout.ParseReleaseVersion(m.Version)
		if err == nil {
			return v, fmt.Sprintf("%q in the binary", "v"+m.Version), nil
		}
	}
	why := "it has no app descriptor"
	if app != nil {
		why = fmt.Sprintf("its app descriptor's version %q is not a semantic version", app.Version)
	}
	return nil, "", fmt.Errorf("cannot tell the version of %s: %s and it contains no \"v1.2.3\"; use --version", img.name, why)
}

// change is the two edits `otagit add` makes to a config work tree, and
// what it takes to undo them.
type change struct {
	dir       string
	bin, toml string // paths in the repository
	copied    bool   // bin was written (it was not already there)
	made      []string
	oldTOML   []byte
	tomlMode  fs.FileMode
	wroteTOML bool
}

func (c *change) file(rel string) string { return filepath.Join(c.dir, filepath.FromSlash(rel)) }

// apply copies the binary to c.bin and appends a [[release]] for it to
// c.toml. The platform file's text is kept byte for byte; the release is
// appended after a blank line, in the file's own line endings.
func (c *change) apply(data []byte, v *semver.Version) error {
	dst := c.file(c.bin)
	switch old, err := os.ReadFile(dst); {
	case err == nil && bytes.Equal(old, data):
		// Already in place, e.g. `otagit add firmware/lamp/lamp-1.2.0.bin`.
	case err == nil:
		return fmt.Errorf("%s already exists with other content; refusing to overwrite it", c.bin)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	default:
		if err := c.mkdirs(filepath.Dir(dst)); err != nil {
			return err
		}
		if err := atomicfile.Write(dst, data, 0o644); err != nil {
			return err
		}
		c.copied = true
	}

	tomlFile := c.file(c.toml)
	st, err := os.Stat(tomlFile)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(tomlFile)
	if err != nil {
		return err
	}
	c.oldTOML, c.tomlMode = old, st.Mode().Perm()
	nl := "\n"
	if bytes.Contains(old, []byte("\r\n")) {
		nl = "\r\n"
	}
	var sep string
	switch {
	case len(old) == 0, bytes.HasSuffix(old, []byte(nl+nl)):
	case bytes.HasSuffix(old, []byte("\n")):
		sep = nl
	default:
		sep = nl + nl
	}
	block := sep + "[[release]]" + nl +
		`version = "` + v.String() + `"` + nl +
		`file = "` + c.bin + `"` + nl
	c.wroteTOML = true
	return atomicfile.Write(tomlFile, append(slices.Clip(old), block...), c.tomlMode)
}

// mkdirs creates dir and its missing parents, remembering which it made.
func (c *change) mkdirs(dir string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c.made = missing // deepest first, the order to remove them in
	return nil
}

// rollback undoes what apply did.
func (c *change) rollback() error {
	var errs []error
	if c.wroteTOML {
		errs = append(errs, atomicfile.Write(c.file(c.toml), c.oldTOML, c.tomlMode))
	}
	if c.copied {
		errs = append(errs, os.Remove(c.file(c.bin)))
	}
	for _, d := range c.made {
		errs = append(errs, os.Remove(d))
	}
	return errors.Join(errs...)
}

// newWarnings returns the warnings in after that before did not have: those
// the new release brought.
func newWarnings(before, after config.Problems) []config.Problem {
	seen := map[string]bool{}
	for _, p := range before.Warnings() {
		seen[p.String()] = true
	}
	var out []config.Problem
	for _, p := range after.Warnings() {
		if !seen[p.String()] {
			out = append(out, p)
		}
	}
	return out
}

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
