package config

import (
	"context"
	"time"

	"github.com/otagit/otagit/artifact"
)

// GitHubRelease is a release of a GitHub repository, as a ReleaseSource
// reports it.
type GitHubRelease struct {
	// ID is GitHub's release id.
	ID int64
	// Tag is the release's tag name, e.g. "lamp-v1.2.0".
	Tag string
	// Name is the release title.
	Name string
	// Draft releases are never served; Prerelease releases are kept apart
	// from stable ones.
	Draft, Prerelease bool
	// PublishedAt is when the release was published (zero for drafts).
	PublishedAt time.Time
	// Assets are the files attached to the release.
	Assets []GitHubAsset
}

// GitHubAsset is a file attached to a GitHub release.
type GitHubAsset struct {
	// ID is GitHub's asset id, used to download it.
	ID int64
	// Name is the asset's file name.
	Name string
	// Size is the asset's size in bytes as GitHub reports it.
	Size int64
	// UpdatedAt changes when the asset is replaced.
	UpdatedAt time.Time
}

// ReleaseSource gives the loader GitHub releases, the second source of
// firmware besides binaries committed to the config repository (package
// githubapi implements it next to the GitHub client). Implementations are
// safe for concurrent use and return promptly when ctx is done.
//
// GitHub trouble must never block a config: a commit that pauses or yanks
// a release has to be served during an outage too. So when GitHub cannot
// be read, Releases and ReleaseByTag return the error together with what
// they saw last, if anything, and when (a zero time: nothing seen).
type ReleaseSource interface {
	// Releases returns every release of repo ("owner/name"), drafts
	// included, newest first.
	Releases(ctx context.Context, repo string) (rels []GitHubRelease, lastSeen time.Time, err error)
	// ReleaseByTag returns the release of repo with the given tag. An
	// error matching ErrReleaseNotFound means there is none (nothing last
	// seen is returned then).
	ReleaseByTag(ctx context.Context, repo, tag string) (rel GitHubRelease, lastSeen time.Time, err error)
	// Asset returns the stored, complete content of asset a of repo,
	// downloading it the first time. An error means it cannot be served
	// now; its text says why.
	Asset(ctx context.Context, repo string, a GitHubAsset) (artifact.Blob, error)
}
