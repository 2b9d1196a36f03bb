package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/otagit/otagit/commitsig"
	"github.com/otagit/otagit/devauth"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/httpapi"
	"github.com/otagit/otagit/server"
)

// Environment variables that carry secrets, so they never appear in `ps`.
const (
	envWebhookSecret = "OTAGIT_WEBHOOK_SECRET"
	envGitToken      = "OTAGIT_GIT_TOKEN"
	envSSHPassphrase = "OTAGIT_SSH_KEY_PASSPHRASE"
	envAdminToken    = "OTAGIT_ADMIN_TOKEN"
)

// runServe parses the flags of `otagit serve`, reads its secrets and runs
// the server until ctx is done.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "", stderr)
	var (
		repo        = fs.String("repo", "", "config repository: local path, file://, https://, ssh:// or git@host:owner/repo.git (required)")
		branch      = fs.String("branch", "main", "branch to serve")
		data        = fs.String("data", "otagit-data", "data directory: local clone, firmware cache, state")
		poll        = fs.Duration("poll", time.Minute, "how often to fetch without a webhook (0 disables)")
		secretFile  = fs.String("webhook-secret-file", "", "file holding the GitHub webhook secret (or set $"+envWebhookSecret+")")
		tokenFile   = fs.String("git-token-file", "", "file holding a token for https remotes (or set $"+envGitToken+")")
		sshKey      = fs.String("ssh-key", "", "private key file for ssh remotes (passphrase in $"+envSSHPassphrase+"); default: SSH agent")
		knownHosts  = fs.String("ssh-known-hosts", "", "known_hosts file for ssh remotes (default ~/.ssh/known_hosts)")
		logFormat   = fs.String("log-format", "text", "log format: text or json")
		logLevel    = fs.String("log-level", "info", "log level: debug, info, warn or error")
		fetchTimout = fs.Duration("fetch-timeout", 2*time.Minute, "limit for one fetch of the config repository")
		ghTokenFile = fs.String("github-token-file", "", "file holding a GitHub token for release assets and pull request reviews (or set $"+envGitHubToken+")")
		ghAPI       = fs.String("github-api-url", "", "GitHub API base URL, for GitHub Enterprise: https://HOST/api/v3/ (default api.github.com)")
		publicURL   = fs.String("public-url", "", "this server's public URL, linked from pull request statuses")
		ghRepo      = fs.String("github-repo", "", "the config repository as owner/name, whose pushes and pull requests webhooks act on (default: from --repo)")
		checkins    = fs.Bool("checkins", true, "record device check-ins in DATA/checkins.db (outcomes, auto-halt, /api/devices)")
		failAfter   = fs.Int("failure-after", 3, "check-ins with the old version after an offer that count as a failed update")
		devAuth     = fs.String("device-auth", "", "`FILE` of device credentials (bcrypt hashes, see otagit hash-password): devices must authenticate with HTTP basic auth")
		adminFile   = fs.String("admin-token-file", "", "file holding the token for operator calls such as resuming a halted release (or set $"+envAdminToken+")")
		keepSnaps   = fs.Int("keep-snapshots", gitstore.DefaultKeepSnapshots, "published snapshots, the served one included, whose binaries the artifact cache keeps (at least 2); the rest is collected")
		signingOpts = addSigningFlags(fs)
		commitKeys  []string
		listen      []string
	)
	fs.Func("listen", "`ADDR` to listen on (default "+defaultListen+"); repeat to listen on more, e.g. :8000 too for AutoConnect's default port",
		func(a string) error { listen = append(listen, a); return nil })
	fs.Func("verify-commits", "serve only commits signed by a key of `FILE`: armored OpenPGP public keys, or an SSH allowed signers file; repeat for more files",
		func(f string) error { commitKeys = append(commitKeys, f); return nil })
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *repo == "":
		return usageError(fs, "missing --repo URL|PATH, the config repository to serve")
	case fs.NArg() > 0:
		return usageError(fs, "unexpected argument %q: serve takes flags only (the repository is --repo)", fs.Arg(0))
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	secret, err := readSecret(*secretFile, envWebhookSecret)
	if err != nil {
		return fmt.Errorf("webhook secret: %w", err)
	}
	token, err := readSecret(*tokenFile, envGitToken)
	if err != nil {
		return fmt.Errorf("git token: %w", err)
	}
	ghToken, err := readSecret(*ghTokenFile, envGitHubToken)
	if err != nil {
		return fmt.Errorf("GitHub token: %w", err)
	}
	admin, err := readSecret(*adminFile, envAdminToken)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	trust, err := signingOpts.trust(true)
	if err != nil {
		return err
	}
	if keys, require := describeTrust(trust); len(keys) > 0 {
		log.Info("signed firmware", "trusted_keys", strings.Join(keys, ","), "required_for", require)
	}
	var commits *commitsig.Keyring
	if len(commitKeys) > 0 {
		if commits, err = commitsig.Load(commitKeys...); err != nil {
			return err
		}
		pgp, ssh := commits.Len()
		log.Info("signed commits required", "openpgp_keys", pgp, "ssh_keys", ssh)
	}
	if len(secret) == 0 {
		log.Warn("no webhook secret: POST /webhook/github is refused; set $" + envWebhookSecret + " or --webhook-secret-file to enable it")
	}
	var authorizer httpapi.DeviceAuthorizer
	if *devAuth != "" {
		a, err := devauth.New(devauth.Options{File: *devAuth})
		if err != nil {
			return err
		}
		authorizer = a
	}
	return server.Run(ctx, server.Config{
		DeviceAuthorizer: authorizer,
		Store: gitstore.Options{
			Remote: gitstore.Remote{
				URL: *repo, Branch: *branch, Token: string(token),
				SSHKeyFile: *sshKey, SSHKeyPassphrase: os.Getenv(envSSHPassphrase), KnownHostsFile: *knownHosts,
			},
			DataDir:       *data,
			Poll:          *poll,
			FetchTimeout:  *fetchTimout,
			KeepSnapshots: *keepSnaps,
			Trust:         trust,
			Commits:       commits,
			Logger:        log,
		},
		Listeners:     listenersOf(listen),
		WebhookSecret: secret,
		GitHubToken:   string(ghToken),
		AdminToken:    string(admin),
		CheckIns:      *checkins,
		FailAfter:     *failAfter,
		GitHubAPI:     apiBase(*ghAPI),
		PublicURL:     *publicURL,
		GitHubRepo:    *ghRepo,
		Logger:        log,
	})
}

// defaultListen is where serve listens without --listen.
const defaultListen = "127.0.0.1:8080"

// listenersOf returns a listener for each --listen address, or for
// defaultListen when none is given.
func listenersOf(addrs []string) []server.Listener {
	if len(addrs) == 0 {
		addrs = []string{defaultListen}
	}
	out := make([]server.Listener, len(addrs))
	for i, a := range addrs {
		out[i] = server.Listener{Addr: a}
	}
	return out
}

// readSecret reads a secret from file, or else from the environment
// variable env. Surrounding white space (a trailing newline) is dropped.
// Secrets are never taken from command-line values, which `ps` shows.
func readSecret(file, env string) ([]byte, error) {
	var raw string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		raw = string(b)
	} else {
		raw = os.Getenv(env)
	}
	return []byte(strings.TrimSpace(raw)), nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", format)
}
