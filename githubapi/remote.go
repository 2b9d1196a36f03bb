package githubapi

import (
	"net/url"
	"strings"
)

// RepoOfRemote returns "owner/name" of a GitHub-style Git remote URL
// (https://host/owner/name(.git), git@host:owner/name(.git),
// ssh://git@host/owner/name.git), or "" for a local path or another shape.
func RepoOfRemote(remote string) string {
	var path string
	switch {
	case strings.HasPrefix(remote, "https://"), strings.HasPrefix(remote, "http://"), strings.HasPrefix(remote, "ssh://"):
		u, err := url.Parse(remote)
		if err != nil {
			return ""
		}
		path = u.Path
	case strings.Contains(remote, "@") && strings.Contains(remote, ":") && !strings.Contains(remote, "://"):
		_, path, _ = strings.Cut(remote, ":") // scp-style git@host:owner/name.git
	default:
		return ""
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	if parts := strings.Split(path, "/"); len(parts) == 2 && parts[0] != "" && parts[1] != "" {
		return path
	}
	return ""
}
