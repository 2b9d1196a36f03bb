package githubapi

import "testing"

func TestRepoOfRemote(t *testing.T) {
	for in, want := range map[string]string{
		"https://github.com/acme/fleet-config.git":   "acme/fleet-config",
		"https://github.com/acme/fleet-config":       "acme/fleet-config",
		"https://ghe.example.com/acme/fleet.git":     "acme/fleet",
		"git@github.com:acme/fleet-config.git":       "acme/fleet-config",
		"ssh://git@github.com/acme/fleet-config.git": "acme/fleet-config",
		"/srv/git/fleet":        "",
		"file:///srv/git/fleet": "",
		"https://gitlab.example.com/group/sub/fleet.git": "",
	} {
		if got := RepoOfRemote(in); got != want {
			t.Errorf("RepoOfRemote(%q): got %q, want %q", in, got, want)
		}
	}
}
