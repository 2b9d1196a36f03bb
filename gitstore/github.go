package gitstore

import (
	"context"
	"io"
	"time"
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

// ReleaseSource reads GitHub releases. Implementations must be safe for
// concurrent use and must return promptly when ctx is done.
type ReleaseSource interface {
	// ListReleases returns every release of repo ("owner/name"), drafts
	// included, newest first.
	ListReleases(ctx context.Context, repo string) ([]GitHubRelease, error)
	// ReleaseByTag returns the release of repo with the given tag. An error
	// matching ErrReleaseNotFound means there is none.
	ReleaseByTag(ctx context.Context, repo, tag string) (GitHubRelease, error)
	// OpenAsset returns the content of the asset with the given id. The
	// caller closes it and bounds how much it reads.
	OpenAsset(ctx context.Context, repo string, id int64) (io.ReadCloser, error)
}
