package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/tomlpos"
	"github.com/otagit/otagit/rollout"
)

// The config repository layout.
const (
	// PlatformsDir holds one <platform>.toml per platform.
	PlatformsDir = "platforms"
	// DevicesDir holds any number of *.toml whitelists, in subdirectories too.
	DevicesDir = "devices"
)

// platformName is what a platform file may be called (without ".toml").
var platformName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// ValidPlatformName reports whether name can be a platform's name (the
// file name of platforms/<name>.toml): 1-64 lower-case letters, digits and
// '-', starting with a letter or digit.
func ValidPlatformName(name string) bool { return platformName.MatchString(name) }

// PlatformFile returns the platform a file of PlatformsDir declares, and
// whether the file name is one a platform may have ("<name>.toml").
func PlatformFile(base string) (platform string, ok bool) {
	name, ok := strings.CutSuffix(base, ".toml")
	if !ok || !platformName.MatchString(name) {
		return "", false
	}
	return name, true
}

// IsConfigFile reports whether name, a path in the config repository, is
// a file the loader reads: platforms/*.toml or devices/**/*.toml.
func IsConfigFile(name string) bool {
	if !strings.HasSuffix(name, ".toml") {
		return false
	}
	dir := path.Dir(name)
	return dir == PlatformsDir || dir == DevicesDir || strings.HasPrefix(dir, DevicesDir+"/")
}

// ReleaseVersions returns the versions of the [[release]] tables of a
// platform file's source, skipping versions that do not parse (the loader
// reports those). Reading the history of a repository needs only this, and
// it must read versions exactly as the loader does.
func ReleaseVersions(src []byte) ([]*semver.Version, error) {
	var doc struct {
		Release []struct {
			Version string `toml:"version"`
		} `toml:"release"`
	}
	if line := tomlpos.CheckDepth(src, tomlpos.MaxDepth); line != 0 {
		return nil, fmt.Errorf("line %d: %s", line, tooDeep)
	}
	if _, err := toml.Decode(string(src), &doc); err != nil {
		return nil, err
	}
	var out []*semver.Version
	for _, r := range doc.Release {
		if v, err := rollout.ParseReleaseVersion(r.Version); err == nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// Load reads and checks the config tree in fsys: platforms/*.toml,
// devices/**/*.toml and the binaries they name, which it examines with in.
// It returns every problem found, errors and warnings, and the fleet when
// there are no errors. It is LoadTree without GitHub: releases taken from
// GitHub are not resolved and are reported as warnings.
func Load(fsys fs.FS, in artifact.Inspector) (*rollout.Fleet, Problems) {
	res := LoadTree(fsys, LoadOptions{Inspector: in})
	return res.Fleet, res.Problems
}

// LoadOptions configures LoadTree.
type LoadOptions struct {
	// Inspector examines committed binaries. Required.
	Inspector artifact.Inspector
	// GitHub resolves releases taken from GitHub; nil leaves them out
	// with a warning.
	GitHub ReleaseSource
	// Ctx bounds GitHub requests; nil means no bound.
	Ctx context.Context
	// Scans remembers scans of whole binaries across loads; nil scans
	// every binary that needs it at every load.
	Scans *ScanMemo
	// Whitelists remembers the whitelists parsed, so that a load of
	// another commit with the same files parses only those that differ;
	// nil parses every whitelist at every load.
	Whitelists *WhitelistMemo
	// Trust is the server's trust in signed firmware: the keys
	// signatures are verified with, and the platforms that must be
	// signed. Nil (otagit validate without keys) checks signatures for
	// their format only, with a warning that who signed is not checked.
	Trust *Trust
}

// Result is what LoadTree found.
type Result struct {
	// Fleet is the config's fleet, nil when Problems has errors.
	Fleet *rollout.Fleet
	// Problems are every error and warning, by file and line.
	Problems Problems
	// GitHubErr matches ErrGitHub when GitHub could not be read fully: the
	// fleet is then built without what could not be resolved (or with
	// releases last seen), and the warnings say what.
	GitHubErr error
	// UsesGitHub is set when the config takes releases from GitHub: the
	// same tree may then load differently as GitHub changes.
	UsesGitHub bool
}

// LoadTree reads and checks the config tree in fsys, as Load does, and
// resolves releases taken from GitHub with opts.GitHub. One loader serves
// the server (fsys is a commit's tree), `otagit validate` (a work tree) and
// `otagit plan` (two commits), so they can never disagree about what is
// valid.
func LoadTree(fsys fs.FS, opts LoadOptions) Result {
	l := &loader{}
	fleet, probs, ghErr := l.load(fsys, opts)
	return Result{Fleet: fleet, Problems: probs, GitHubErr: ghErr, UsesGitHub: l.usesGitHub}
}

// load runs the loader; afterwards l.usesGitHub tells whether GitHub was
// needed.
func (l *loader) load(fsys fs.FS, opts LoadOptions) (*rollout.Fleet, Problems, error) {
	opts.Ctx = loadContext(opts.Ctx)
	*l = loader{fsys: fsys, in: opts.Inspector, opts: opts, blobs: map[string]blobResult{}}
	platforms := l.platforms()
	devices, groups := l.devices(platforms)
	l.probs.sortByLine()
	if len(l.probs.Errors()) > 0 {
		return nil, l.probs, l.githubErr
	}
	ps := make([]*rollout.Platform, 0, len(platforms))
	for _, p := range platforms {
		ps = append(ps, p.Platform)
	}
	fleet, err := rollout.NewFleetWithGroups(ps, devices, groups)
	if err != nil {
		// Everything NewFleet checks was checked above with file and line;
		// still, never serve a fleet that failed to build.
		l.probs = append(l.probs, Problem{File: PlatformsDir, Message: err.Error()})
		return nil, l.probs, l.githubErr
	}
	return fleet, l.probs, l.githubErr
}

type loader struct {
	fsys  fs.FS
	in    artifact.Inspector
	opts  LoadOptions
	probs Problems
	blobs map[string]blobResult // by path, so a binary shared by releases is read once

	ghReleases map[string]listed // by repository, listed once per load
	githubErr  error             // first GitHub failure
	usesGitHub bool
}

type blobResult struct {
	blob artifact.Blob
	err  error
}

// platform is a loaded platform and where its file is.
type platform struct {
	*rollout.Platform
	file string
	// unresolved are versions declared as GitHub releases that could not
	// be read now (by rollout.VersionKey).
	unresolved map[string]bool
	// signing is the signature rule its binaries follow, nil for none.
	signing *signing
	// gzip is set when the platform serves its uncompressed images as
	// gzip (gzip = true).
	gzip bool
}

func (l *loader) platforms() map[string]*platform {
	out := map[string]*platform{}
	entries, err := fs.ReadDir(l.fsys, PlatformsDir)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			msg = "missing: an otagit config repository has a platforms/ directory with one <platform>.toml per platform"
		}
		l.probs = append(l.probs, Problem{File: PlatformsDir + "/", Message: msg})
		return out
	}
	for _, e := range entries {
		file := path.Join(PlatformsDir, e.Name())
		if e.IsDir() || !IsConfigFile(file) {
			continue
		}
		name := strings.TrimSuffix(e.Name(), ".toml")
		if !ValidPlatformName(name) {
			l.probs = append(l.probs, Problem{File: file, Message: fmt.Sprintf(
				"platform name %q: use 1-64 lower-case letters, digits and '-', starting with a letter or digit", name)})
			continue
		}
		p := l.platform(file, name)
		if p == nil {
			// Unreadable file: keep the name known so that its devices do
			// not each add an "unknown platform" error to the real one.
			p = &platform{Platform: &rollout.Platform{Name: name}, file: file}
		}
		out[name] = p
	}
	return out
}

func (l *loader) platform(file, name string) *platform {
	t := parseTOML(l.fsys, file, &l.probs)
	if t == nil {
		return nil
	}
	p := &platform{Platform: &rollout.Platform{Name: name}, file: file}
	if chip, ok := t.str("chip", true); ok {
		if !espimage.Chip(chip).Known() {
			t.errorf("chip", "unknown chip %q (known: %s)", chip, knownChips())
		}
		p.Chip = chip
	}
	p.Description, _ = t.str("description", false)
	p.gzip = t.boolean("gzip", false)
	if p.gzip && p.Chip != "" && p.Chip != string(espimage.ESP8266) {
		t.errorf("gzip", "gzip is for esp8266 platforms: ESP32 HTTPUpdate devices flash uncompressed images only (esp32FOTA devices take committed .gz or .zz images)")
		p.gzip = false
	}
	p.Paused = t.boolean("paused", false)
	p.NoRollback = !t.boolean("rollback", true)
	p.Anonymous = t.boolean("anonymous", false)
	p.signing = l.signingRule(t, p)
	var src *follow
	if gt := t.table("github"); gt != nil {
		src = l.parseFollow(gt, name)
	}
	seen := map[string]int{}         // version -> line of its first release
	overrides := map[string]*table{} // version -> rules for a GitHub release
	for _, rt := range t.tables("release") {
		r, override := l.release(rt, p, src != nil)
		if r == nil {
			continue
		}
		key := rollout.VersionKey(r.Version)
		if first, dup := seen[key]; dup {
			rt.errorf("version", "version %s is already released at line %d", r.Version, first)
			continue
		}
		seen[key] = rt.line("version")
		if override {
			overrides[key] = rt
			continue
		}
		clientWarnings(rt, p.Platform, r)
		p.Releases = append(p.Releases, r)
	}
	if src != nil {
		taken := map[string]bool{}
		for _, r := range p.Releases {
			taken[rollout.VersionKey(r.Version)] = true
		}
		p.Releases = append(p.Releases, l.followed(p, src, overrides, taken)...)
		// Overrides no GitHub release took: still check their rules.
		for key, ot := range overrides {
			if l.opts.GitHub != nil && l.githubErr == nil {
				ot.warnf("version", "no published release of %s has version %s (yet): these rules apply once it does", src.repo, key)
			}
			unclaimed := newRelease(p.Name, nil)
			releaseRules(ot, unclaimed)
			l.releaseFilesystem(ot, unclaimed)
		}
	}
	t.finish(append([]string{"chip", "description", "paused", "rollback", "gzip", "anonymous", "github", "release"}, signingKeys...)...)
	return p
}

// release reads a [[release]]. With a [github] source on the platform, a
// release that names no binary is an override: rules for the GitHub
// release of that version.
func (l *loader) release(t *table, p *platform, following bool) (r *rollout.Release, override bool) {
	defer t.finish(releaseKeys...)
	var v *semver.Version
	vs, ok := t.str("version", true)
	if ok {
		var err error
		if v, err = rollout.ParseReleaseVersion(vs); err != nil {
			t.errorf("version", "%q is not a semantic version (MAJOR.MINOR.PATCH, e.g. \"1.2.3\")", vs)
			ok = false
		}
	}
	r = newRelease(p.Name, v)
	hasFile, hasGitHub := t.has("file"), t.has("github")
	binOK := true
	switch {
	case hasFile && hasGitHub:
		t.errorf("", "set either file or github (with tag, asset and sha256), not both")
		t.use("file")
		t.use("github")
		binOK = false
	case hasFile:
		binOK = l.committed(t, p, r)
	case hasGitHub:
		binOK = ok && l.pinned(t, p, r)
	case following:
		if ok {
			// Rules are applied when the GitHub release is resolved.
			for _, k := range releaseKeys {
				t.use(k)
			}
			return r, true
		}
		binOK = false
	default:
		t.f.add(Problem{Line: t.line(""), Key: t.keyPath("file"),
			Message: "missing required key (or github, tag, asset and sha256 for a GitHub release asset)"})
		binOK = false
	}
	rulesOK := releaseRules(t, r)
	fsOK := l.releaseFilesystem(t, r)
	if !ok || !binOK || !rulesOK || !fsOK {
		return nil, false
	}
	r.Fingerprint = fingerprint(r)
	return r, false
}

// committed reads the file key of a release whose binary is in the
// repository.
func (l *loader) committed(t *table, p *platform, r *rollout.Release) bool {
	file, ok := t.str("file", true)
	if !ok {
		return false
	}
	a, b, err := l.blob(file)
	if err != nil {
		t.errorf("file", "%v", err)
		return false
	}
	// Signed as the platform requires (the head is then the image's,
	// inside a signature container).
	if b.Head, err = l.signature(a.Source.Path, b, p); err != nil {
		t.errorf("file", "binary %q: %v", a.Source.Path, err)
		return false
	}
	for _, f := range l.checkImage(a.Source.Path, b, p, r.Version) {
		if f.Warning {
			t.warnf("file", "binary %q: %s", a.Source.Path, f.Message)
		} else {
			t.errorf("file", "binary %q: %s", a.Source.Path, f.Message)
			ok = false
		}
	}
	if !ok {
		return false
	}
	if r.Artifact, err = l.served(p, a, b, l.opener(a.Source.Path)); err != nil {
		t.errorf("file", "binary %q: %v", a.Source.Path, err)
		return false
	}
	return true
}

// cleanPath is a binary's path as the repository names it.
func cleanPath(name string) string { return strings.TrimPrefix(name, "./") }

func knownChips() string {
	var names []string
	for _, c := range espimage.KnownChips() {
		names = append(names, string(c))
	}
	return strings.Join(names, ", ")
}
