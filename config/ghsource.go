package config

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/rollout"
)

// ErrGitHub is matched (errors.Is) by the error LoadWith returns, with a
// fleet, when GitHub could not be read fully: that fleet lacks the GitHub
// releases that could not be resolved (or uses the ones last seen), as
// its warnings say. GitHub trouble never blocks a config: a commit that
// pauses or yanks a release must be served during an outage too.
var ErrGitHub = errors.New("GitHub")

// githubRepo is what a GitHub repository may be called.
var githubRepo = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$`)

// follow is a platform's [github] table: every published release of Repo
// whose tag is TagPrefix + a semantic version is a release of the platform.
type follow struct {
	t         *table
	repo      string
	asset     string // glob for the asset name
	tagPrefix string
	defaults  *rollout.Release // rules every followed release starts from
}

// followKeys are the keys a [github] table may have.
var followKeys = []string{"repo", "asset", "tag_prefix", "groups", "stages", "from", "paused", "halt_on_failure", "halt_min_devices"}

// parseFollow reads a platform's [github] table.
func (l *loader) parseFollow(t *table, platform string) *follow {
	defer t.finish(followKeys...)
	f := &follow{t: t, defaults: newRelease(platform, nil)}
	ok := true
	if s, present := t.str("repo", true); present {
		if !githubRepo.MatchString(s) {
			t.errorf("repo", "%q is not a GitHub repository (write it as \"owner/name\")", s)
			ok = false
		}
		f.repo = s
	} else {
		ok = false
	}
	if s, present := t.str("asset", true); present {
		if _, err := path.Match(s, ""); err != nil || strings.Contains(s, "/") {
			t.errorf("asset", "%q is not an asset name pattern (e.g. \"lamp-*.bin\")", s)
			ok = false
		}
		f.asset = s
	} else {
		ok = false
	}
	f.tagPrefix, _ = t.str("tag_prefix", false)
	for _, k := range []string{"channel", "yanked"} {
		if t.has(k) {
			t.use(k)
			t.errorf(k, "cannot be set for every GitHub release: set it on one version with a [[release]] that has only version and rules")
			ok = false
		}
	}
	if !releaseRules(t, f.defaults) || !ok {
		return nil
	}
	return f
}

// tagVersion returns the version a tag stands for, or nil: tags are
// TagPrefix + semver; with no prefix, "v1.2.3" and "1.2.3" both count.
func (f *follow) tagVersion(tag string) *semver.Version {
	rest, ok := strings.CutPrefix(tag, f.tagPrefix)
	if !ok {
		return nil
	}
	if f.tagPrefix == "" {
		rest = strings.TrimPrefix(rest, "v")
	}
	v, err := semver.StrictNewVersion(rest)
	if err != nil {
		return nil
	}
	return v
}

// followed resolves a platform's [github] source into releases. overrides
// are the platform's [[release]] tables that set only rules, by version;
// taken are the versions the platform declares itself, which win.
func (l *loader) followed(p *platform, f *follow, overrides map[string]*table, taken map[string]bool) []*rollout.Release {
	if l.opts.GitHub == nil {
		f.t.warnf("repo", "releases of %s not checked: no GitHub access (set OTAGIT_GITHUB_TOKEN or GITHUB_TOKEN)", f.repo)
		return nil
	}
	l.usesGitHub = true
	rels, at, err := l.listReleases(f.repo)
	if err != nil {
		l.degrade(fmt.Errorf("%w: list releases of %s: %v", ErrGitHub, f.repo, err))
		if at.IsZero() {
			f.t.warnf("repo", "cannot list the releases of %s (%v): none served until GitHub answers", f.repo, err)
			return nil
		}
		f.t.warnf("repo", "cannot list the releases of %s (%v): using the %d releases seen at %s", f.repo, err, len(rels), at.Format(time.RFC3339))
	}
	var out []*rollout.Release
	for _, gr := range rels {
		if gr.Draft {
			continue
		}
		v := f.tagVersion(gr.Tag)
		if v == nil {
			continue // another kind of tag in the same repository
		}
		key := rollout.VersionKey(v)
		if taken[key] {
			continue
		}
		var matches []GitHubAsset
		for _, a := range gr.Assets {
			if ok, _ := path.Match(f.asset, a.Name); ok {
				matches = append(matches, a)
			}
		}
		if len(matches) != 1 {
			f.t.warnf("asset", "release %s of %s has %d assets matching %q, want exactly 1: not served", gr.Tag, f.repo, len(matches), f.asset)
			continue
		}
		src := rollout.Source{GitHub: &rollout.GitHubAsset{Repo: f.repo, Tag: gr.Tag, Name: matches[0].Name, Followed: true}}
		where := src.String()
		b, err := l.opts.GitHub.Asset(l.opts.Ctx, f.repo, matches[0])
		if err != nil {
			l.degrade(fmt.Errorf("%w: %s: %v", ErrGitHub, where, err))
			f.t.warnf("asset", "%s: %v: not served until it downloads", where, err)
			continue
		}
		r := newRelease(p.Name, v)
		copyRules(r, f.defaults)
		if gr.Prerelease && r.Channel == rollout.Stable {
			// Marked pre-release on GitHub: never for stable devices.
			r.Channel = rollout.Beta
		}
		art, bad := l.checkAsset(b, src, p, v, f.t, "asset")
		if bad {
			continue // reported as a warning: a bad asset must not block the fleet
		}
		r.Artifact = art
		r.IntroducedAt = gr.PublishedAt
		if ot, ok := overrides[key]; ok {
			delete(overrides, key)
			if !releaseRules(ot, r) || !l.releaseFilesystem(ot, r) {
				continue
			}
		}
		r.Fingerprint = fingerprint(r)
		out = append(out, r)
		taken[key] = true
	}
	return out
}

// copyRules copies the rules of defaults into r.
func copyRules(r, defaults *rollout.Release) {
	r.Groups, r.Stages, r.From = defaults.Groups, defaults.Stages, defaults.From
	r.Paused, r.HaltOnFailure, r.HaltMinDevices = defaults.Paused, defaults.HaltOnFailure, defaults.HaltMinDevices
}

// pinned resolves a [[release]] with github, tag, asset and sha256: the
// asset is served only if its content has that SHA-256.
func (l *loader) pinned(t *table, p *platform, r *rollout.Release) bool {
	repo, ok1 := t.str("github", true)
	tag, ok2 := t.str("tag", true)
	name, ok3 := t.str("asset", true)
	sum, ok4 := t.str("sha256", true)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return false
	}
	ok := true
	if !githubRepo.MatchString(repo) {
		t.errorf("github", "%q is not a GitHub repository (write it as \"owner/name\")", repo)
		ok = false
	}
	sum = strings.ToLower(sum)
	if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		t.errorf("sha256", "must be 64 hex digits, the SHA-256 of the asset")
		ok = false
	}
	if !ok {
		return false
	}
	gh := l.opts.GitHub
	if gh == nil {
		t.warnf("github", "asset %s of release %s of %s not checked: no GitHub access (set OTAGIT_GITHUB_TOKEN or GITHUB_TOKEN)", name, tag, repo)
		// Without the asset there is nothing to serve; the config itself
		// is fine, so the release is left out rather than failed.
		return false
	}
	l.usesGitHub = true
	gr, at, err := gh.ReleaseByTag(l.opts.Ctx, repo, tag)
	switch {
	case errors.Is(err, ErrReleaseNotFound):
		t.errorf("tag", "%s has no published release %q", repo, tag)
		return false
	case err != nil:
		l.degrade(fmt.Errorf("%w: release %s of %s: %v", ErrGitHub, tag, repo, err))
		if at.IsZero() {
			t.warnf("tag", "cannot read release %s of %s (%v): not served until GitHub answers", tag, repo, err)
			l.unresolved(p, r.Version)
			return false
		}
		t.warnf("tag", "cannot read release %s of %s (%v): using it as seen at %s", tag, repo, err, at.Format(time.RFC3339))
	case gr.Draft:
		t.errorf("tag", "release %q of %s is a draft", tag, repo)
		return false
	}
	var asset *GitHubAsset
	for i := range gr.Assets {
		if gr.Assets[i].Name == name {
			asset = &gr.Assets[i]
		}
	}
	if asset == nil {
		t.errorf("asset", "release %q of %s has no asset %q", tag, repo, name)
		return false
	}
	b, err := gh.Asset(l.opts.Ctx, repo, *asset)
	if err != nil {
		l.degrade(fmt.Errorf("%w: asset %s of release %s of %s: %v", ErrGitHub, name, tag, repo, err))
		t.warnf("asset", "asset %s of release %s of %s: %v: not served until it downloads", name, tag, repo, err)
		l.unresolved(p, r.Version)
		return false
	}
	if b.SHA256 != sum {
		t.errorf("sha256", "asset %s of release %s of %s has SHA-256 %s, not %s: not served", name, tag, repo, b.SHA256, sum)
		return false
	}
	art, bad := l.checkAsset(b, rollout.Source{GitHub: &rollout.GitHubAsset{Repo: repo, Tag: tag, Name: name}}, p, r.Version, t, "asset")
	if bad {
		t.errorf("asset", "asset %s of release %s of %s is not a usable image (see above)", name, tag, repo)
		return false
	}
	r.Artifact = art
	return true
}

// checkAsset runs the binary checks on a downloaded asset. Problems are
// reported as warnings at key of t, prefixed with the asset; bad is true
// when one of them would be an error for a committed binary.
func (l *loader) checkAsset(b artifact.Blob, src rollout.Source, p *platform, v *semver.Version, t *table, key string) (rollout.Artifact, bool) {
	where := src.String()
	if b.Size == 0 {
		t.warnf(key, "%s is empty: not served", where)
		return rollout.Artifact{}, true
	}
	head, err := l.signature("", b, p)
	if err != nil {
		t.warnf(key, "%s: %v: not served", where, err)
		return rollout.Artifact{}, true
	}
	b.Head = head
	bad := false
	for _, f := range l.checkImage(where, b, p, v) {
		if f.Warning {
			t.warnf(key, "%s: %s", where, f.Message)
		} else {
			t.warnf(key, "%s: %s: not served", where, f.Message)
			bad = true
		}
	}
	if bad {
		return rollout.Artifact{}, true
	}
	a, err := l.served(p, artifactOf(src, b), b, nil)
	if err != nil {
		t.warnf(key, "%s: %v: not served", where, err)
		return rollout.Artifact{}, true
	}
	return a, false
}

// listReleases lists repo's releases once per load.
func (l *loader) listReleases(repo string) ([]GitHubRelease, time.Time, error) {
	if rels, ok := l.ghReleases[repo]; ok {
		return rels.rels, rels.at, rels.err
	}
	rels, at, err := l.opts.GitHub.Releases(l.opts.Ctx, repo)
	if l.ghReleases == nil {
		l.ghReleases = map[string]listed{}
	}
	l.ghReleases[repo] = listed{rels, at, err}
	return rels, at, err
}

// listed is one answer of ReleaseSource.Releases.
type listed struct {
	rels []GitHubRelease
	at   time.Time
	err  error
}

// degrade records the first GitHub failure of a load; the load goes on
// without what could not be read.
func (l *loader) degrade(err error) {
	if l.githubErr == nil {
		l.githubErr = err
	}
}

// unresolved records that platform p declares version v, from GitHub,
// but it could not be resolved now: pins to it stay valid (the device
// gets nothing until it resolves) instead of failing the config.
func (l *loader) unresolved(p *platform, v *semver.Version) {
	if v == nil {
		return
	}
	if p.unresolved == nil {
		p.unresolved = map[string]bool{}
	}
	p.unresolved[rollout.VersionKey(v)] = true
}

// loadContext returns ctx, or a background context for nil.
func loadContext(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
