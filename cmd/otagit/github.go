package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/githubapi"
)

// Environment variables for GitHub API access.
const (
	envGitHubToken   = "OTAGIT_GITHUB_TOKEN"
	envActionsToken  = "GITHUB_TOKEN" // what GitHub Actions provides
	envGitHubAPIURL  = "OTAGIT_GITHUB_API_URL"
	envActionsAPIURL = "GITHUB_API_URL"
)

// cliGitHub returns GitHub access for `validate` and `plan` when a token
// is in the environment (a GitHub Actions job has one), with a temporary
// asset cache the returned cleanup removes; nil without a token, so that
// nothing reaches the network unasked.
func cliGitHub(log *slog.Logger) (config.ReleaseSource, func(), error) {
	token := os.Getenv(envGitHubToken)
	if token == "" {
		token = os.Getenv(envActionsToken)
	}
	if token == "" {
		return nil, func() {}, nil
	}
	base := os.Getenv(envGitHubAPIURL)
	if base == "" {
		base = os.Getenv(envActionsAPIURL)
	}
	client, err := githubapi.NewClient(githubapi.ClientConfig{Token: token, BaseURL: apiBase(base), Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("GitHub: %w", err)
	}
	dir, err := os.MkdirTemp("", "otagit-assets-")
	if err != nil {
		return nil, nil, err
	}
	cache, err := artifact.OpenCache(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return &githubapi.Releases{API: client, Cache: cache}, func() { os.RemoveAll(dir) }, nil
}

// apiBase makes an API URL end with "/", as go-github requires.
func apiBase(u string) string {
	if u != "" && u[len(u)-1] != '/' {
		return u + "/"
	}
	return u
}
