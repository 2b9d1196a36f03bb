package repoedit

import (
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/rollout"
	"github.com/otagit/otagit/worktree"
)

// Options says what the caller knows about the release; what it leaves
// out is detected from the image.
type Options struct {
	// Platform names the release's platform; "" detects it
	// (config.DetectPlatform).
	Platform string
	// Version is the release's version; nil detects it
	// (config.DetectVersion).
	Version *semver.Version
}

// Result is what AddRelease found and did. With an error, it holds what
// was found before it.
type Result struct {
	// Platform is the release's platform.
	Platform *rollout.Platform
	// PlatformFrom says what showed the platform, "" when Options named it.
	PlatformFrom string
	// Version is the release's version.
	Version *semver.Version
	// VersionFrom says where the version came from, "" when Options gave
	// it.
	VersionFrom string
	// Binary and PlatformFile are the slash-separated paths, in the config
	// directory, of the release's binary and its platform file.
	Binary, PlatformFile string
	// Copied is false when Binary held this binary already.
	Copied bool
	// Size is the binary's size in bytes.
	Size int
	// Added is true once the release is in the config and the config is
	// valid; it stays added even if staging then fails.
	Added bool
	// Warnings are the loader's warnings that the new release brought.
	Warnings []config.Problem
	// Staged is false when the config directory is in no Git repository.
	Staged bool
}

// ConfigError is AddRelease's error when the config has errors: before
// any change, or because of the release (which is then undone). Its
// message refers to Problems as shown above it, so a caller shows
// Problems first.
type ConfigError struct {
	// Problems are the loader's errors.
	Problems config.Problems
	msg      string
}

func (e *ConfigError) Error() string { return e.msg }

// NewConfigError returns a *ConfigError for the loader's errors in probs,
// with msg saying what they stop.
func NewConfigError(probs config.Problems, msg string) *ConfigError {
	return &ConfigError{probs.Errors(), msg}
}

// AddRelease adds the firmware binary in file as a release to the config
// work tree in dir: it finds the platform and version (see Options),
// refuses a file that is not an application image (espimage.ReadFile), an
// image for another chip or a version the platform has, copies the binary
// to firmware/<platform>/<platform>-<version>.bin (or keeps it if it is
// there already) and appends a [[release]] to the platform file, keeping
// that file's text byte for byte. The config is read as the commit made
// from the work tree would hold it (package worktree), and the one loader
// then decides whether the result is valid, exactly as the server and
// `otagit validate` will once both files are staged; if it is not, both
// edits are undone. Last, both files are staged in the Git repository that
// holds dir, if there is one.
//
// The errors are a *ConfigError when the config has errors, a
// *config.UndetectedError when the image does not show its platform or
// version, and otherwise say what was refused or failed.
func AddRelease(dir, file string, opts Options) (Result, error) {
	var res Result
	tree, err := worktree.Open(dir)
	if err != nil {
		return res, err
	}
	// The loader refuses a larger binary anyway.
	img, err := espimage.ReadFile(file, artifact.MaxBinarySize)
	if err != nil {
		return res, err
	}
	fleet, before := config.Load(tree, artifact.ReadInspector{})
	if fleet == nil {
		return res, &ConfigError{before.Errors(), fmt.Sprintf("%s has errors (above); fix them before adding a release", dir)}
	}
	p, platformFrom, err := platformOf(fleet, img, opts.Platform)
	if err != nil {
		return res, err
	}
	if !img.Info.Fits(espimage.Chip(p.Chip)) {
		return res, fmt.Errorf("%s is built for %s, but platform %s is %s", img.Name, img.Info.ChipName(), p.Name, p.Chip)
	}
	v, versionFrom := opts.Version, ""
	if v == nil {
		if v, versionFrom, err = config.DetectVersion(img, p.Name); err != nil {
			return res, err
		}
	}
	if r := p.Release(v); r != nil {
		return res, fmt.Errorf("platform %s already has version %s (binary %s)", p.Name, r.Version, r.Artifact.Source)
	}
	res.Platform, res.PlatformFrom, res.Version, res.VersionFrom = p, platformFrom, v, versionFrom
	res.Binary, res.PlatformFile = BinaryPath(p.Name, v), PlatformPath(p.Name)

	e := NewEdit(dir)
	if _, err := e.AddRelease(p.Name, v, img.Data); err != nil {
		return res, e.undo(err)
	}
	after, probs := config.Load(tree.Staging(res.Binary, res.PlatformFile), artifact.ReadInspector{})
	if after == nil || after.Platform(p.Name).Release(v) == nil {
		if rerr := e.Rollback(); rerr != nil {
			return res, &ConfigError{probs.Errors(), fmt.Sprintf("adding %s %s makes the config invalid (above), and undoing it failed: %v", p.Name, v, rerr)}
		}
		return res, &ConfigError{probs.Errors(), fmt.Sprintf("adding %s %s would make the config invalid (above); nothing was changed", p.Name, v)}
	}
	res.Copied, res.Added, res.Size = e.copied(res.Binary), true, len(img.Data)
	res.Warnings = newWarnings(before, probs)

	if res.Staged, err = stage(dir, []string{res.Binary, res.PlatformFile}); err != nil {
		return res, fmt.Errorf("the release is added but not staged: %w", err)
	}
	return res, nil
}

// platformOf returns the platform named, or else the one detected, and
// what showed it ("" when named).
func platformOf(fleet *rollout.Fleet, img *espimage.Image, name string) (*rollout.Platform, string, error) {
	if name == "" {
		return config.DetectPlatform(fleet, img)
	}
	p := fleet.Platform(name)
	if p == nil {
		var names []string
		for _, p := range fleet.Platforms() {
			names = append(names, p.Name)
		}
		return nil, "", fmt.Errorf("unknown platform %q (no %s/%s.toml; platforms: %s)",
			name, config.PlatformsDir, strings.ToLower(name), strings.Join(names, ", "))
	}
	return p, "", nil
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
