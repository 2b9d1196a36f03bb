package githubapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
)

// API is the part of the GitHub REST API that release lookups need.
// Client implements it; tests may fake it. Implementations are safe for
// concurrent use and return promptly when ctx is done.
type API interface {
	// ListReleases returns every release of repo ("owner/name"), drafts
	// included, newest first.
	ListReleases(ctx context.Context, repo string) ([]config.GitHubRelease, error)
	// ReleaseByTag returns the release of repo with the given tag. An error
	// matching config.ErrReleaseNotFound means there is none.
	ReleaseByTag(ctx context.Context, repo, tag string) (config.GitHubRelease, error)
	// OpenAsset returns the content of the asset with the given id. The
	// caller closes it and bounds how much it reads.
	OpenAsset(ctx context.Context, repo string, id int64) (io.ReadCloser, error)
}

// Releases implements config.ReleaseSource on top of the GitHub API:
// assets are downloaded once per asset version into the artifact cache,
// and what was read last is remembered on disk (Known), so that configs
// load during an outage and after a restart. A Releases is safe for
// concurrent use.
type Releases struct {
	// API reads releases and assets. Required.
	API API
	// Cache stores downloaded assets. Required.
	Cache *artifact.Cache
	// MaxAssetSize bounds a download; default artifact.MaxBinarySize.
	MaxAssetSize int64
	// Known remembers releases for when GitHub cannot be reached; nil
	// remembers nothing.
	Known *KnownReleases
}

var _ config.ReleaseSource = (*Releases)(nil)

// Releases implements config.ReleaseSource.
func (s *Releases) Releases(ctx context.Context, repo string) ([]config.GitHubRelease, time.Time, error) {
	rels, err := s.API.ListReleases(ctx, repo)
	if err != nil {
		known, at, _ := s.Known.list(repo)
		return known, at, err
	}
	s.Known.putList(repo, rels)
	return rels, time.Now(), nil
}

// ReleaseByTag implements config.ReleaseSource.
func (s *Releases) ReleaseByTag(ctx context.Context, repo, tag string) (config.GitHubRelease, time.Time, error) {
	gr, err := s.API.ReleaseByTag(ctx, repo, tag)
	switch {
	case errors.Is(err, config.ErrReleaseNotFound):
		return config.GitHubRelease{}, time.Time{}, err
	case err != nil:
		known, at := s.Known.tag(repo, tag)
		return known, at, err
	}
	s.Known.putTag(repo, tag, gr)
	return gr, time.Now(), nil
}

// Asset implements config.ReleaseSource: the cached content of an asset
// version, downloaded and stored the first time.
func (s *Releases) Asset(ctx context.Context, repo string, a config.GitHubAsset) (artifact.Blob, error) {
	key := artifact.AssetKey(repo, a.ID, a.UpdatedAt)
	if b, ok := s.Cache.Lookup(key, -1); ok {
		return b, nil
	}
	limit := s.MaxAssetSize
	if limit <= 0 {
		limit = artifact.MaxBinarySize
	}
	if a.Size > limit {
		return artifact.Blob{}, fmt.Errorf("%d bytes, more than the %d allowed", a.Size, limit)
	}
	rc, err := s.API.OpenAsset(ctx, repo, a.ID)
	if err != nil {
		return artifact.Blob{}, fmt.Errorf("download: %w", err)
	}
	defer rc.Close()
	b, err := s.Cache.Put(rc, limit)
	if err != nil {
		return artifact.Blob{}, fmt.Errorf("download: %w", err)
	}
	if a.Size > 0 && b.Size != a.Size {
		return artifact.Blob{}, fmt.Errorf("download: got %d bytes, GitHub says %d", b.Size, a.Size)
	}
	s.Cache.Remember(key, b)
	return b, nil
}
