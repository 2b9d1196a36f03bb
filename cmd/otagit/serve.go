package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/otagit/otagit/access"
	"github.com/otagit/otagit/commitsig"
	"github.com/otagit/otagit/config"
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
		storeDSN    = fs.String("store", "", "where check-ins, outcomes and halts are kept: empty for DATA/checkins.db (bbolt, one server), or a postgres:// address shared by every replica (no password in it: use --store-password-file or $PGPASSWORD)")
		storePwFile = fs.String("store-password-file", "", "file holding the database password for --store (or set $PGPASSWORD)")
		metricsOn   = fs.Bool("metrics", true, "serve Prometheus metrics at /metrics (guarded like the read API)")
		failAfter   = fs.Int("failure-after", 3, "check-ins with the old version after an offer that count as a failed update")
		devAuth     = fs.String("device-auth", "", "`FILE` of device credentials (bcrypt hashes, see otagit hash-password): devices must authenticate with HTTP basic auth")
		adminFile   = fs.String("admin-token-file", "", "file holding the token for operator write calls such as resuming a halted release, which also grants read (or set $"+envAdminToken+")")
		readFile    = fs.String("read-token-file", "", "file holding the token for the read API and the dashboard on every listener (or set $"+envReadToken+"); without it they are served only on --admin-listen")
		tlsCert     = fs.String("tls-cert", "", "PEM certificate (chain) `FILE` for --tls-listen; reloaded on SIGHUP and when the file changes")
		tlsKey      = fs.String("tls-key", "", "PEM private key `FILE` for --tls-cert")
		keepSnaps   = fs.Int("keep-snapshots", gitstore.DefaultKeepSnapshots, "published snapshots, the served one included, whose binaries the artifact cache keeps (at least 2); the rest is collected")
		signingOpts = addSigningFlags(fs)
		commitKeys  []string
		listen      []string
		tlsListen   []string
		adminListen []string
		proxies     []string
	)
	fs.Func("tls-listen", "`ADDR` to listen on with TLS (needs --tls-cert and --tls-key); repeat for more",
		func(a string) error { tlsListen = append(tlsListen, a); return nil })
	fs.Func("admin-listen", "`ADDR` of an operator listener (plain HTTP), e.g. 127.0.0.1:9090: serves the read API and dashboard without a token; bind it to loopback or a management network",
		func(a string) error { adminListen = append(adminListen, a); return nil })
	fs.Func("trusted-proxy", "`CIDR` or address of a reverse proxy whose X-Forwarded-For and Forwarded headers give the client address; repeat for more",
		func(a string) error { proxies = append(proxies, a); return nil })
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
	secret, err := access.NewSecret("webhook secret", *secretFile, envWebhookSecret)
	if err != nil {
		return err
	}
	token, err := access.ReadSecret(*tokenFile, envGitToken)
	if err != nil {
		return fmt.Errorf("git token: %w", err)
	}
	ghToken, err := access.ReadSecret(*ghTokenFile, envGitHubToken)
	if err != nil {
		return fmt.Errorf("GitHub token: %w", err)
	}
	admin, err := access.NewSecret("admin token", *adminFile, envAdminToken)
	if err != nil {
		return err
	}
	read, err := access.NewSecret("read token", *readFile, envReadToken)
	if err != nil {
		return err
	}
	trusted, err := access.ParseProxies(proxies)
	if err != nil {
		return err
	}
	listeners, certs, err := serveListeners(listen, tlsListen, adminListen, *tlsCert, *tlsKey, log)
	if err != nil {
		return err
	}
	reloaders := []server.Reloader{secret, admin, read}
	if certs != nil {
		reloaders = append(reloaders, certs)
	}
	if !read.Set() && !admin.Set() && len(adminListen) == 0 {
		log.Warn("the read API and the dashboard are not served: use --admin-listen for an operator listener, or set a read token (--read-token-file)")
	}
	// PGPASSWORD is read by the driver when no file is given.
	storePw, err := access.ReadSecret(*storePwFile, "")
	if err != nil {
		return fmt.Errorf("database password: %w", err)
	}
	trust, commits, err := loadKeys(signingOpts, commitKeys)
	if err != nil {
		return err
	}
	if keys, require := describeTrust(trust); len(keys) > 0 {
		log.Info("signed firmware", "trusted_keys", strings.Join(keys, ","), "required_for", require)
	}
	if commits != nil {
		pgp, ssh := commits.Len()
		log.Info("signed commits required", "openpgp_keys", pgp, "ssh_keys", ssh)
	}
	if !secret.Set() {
		log.Warn("no webhook secret: POST /webhook/github is refused; set $" + envWebhookSecret + " or --webhook-secret-file to enable it")
	}
	var authorizer httpapi.DeviceAuthorizer
	if *devAuth != "" {
		a, err := devauth.New(devauth.Options{File: *devAuth})
		if err != nil {
			return err
		}
		authorizer = a
		reloaders = append(reloaders, a)
	}
	// SIGHUP reloads; it never ends the server.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
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
		Listeners:      listeners,
		WebhookSecret:  secret,
		GitHubToken:    string(ghToken),
		AdminToken:     admin,
		ReadToken:      read,
		TrustedProxies: trusted,
		Reload:         hup,
		Reloaders:      reloaders,
		ReloadKeys: func() (*config.Trust, *commitsig.Keyring, error) {
			return loadKeys(signingOpts, commitKeys)
		},
		CheckIns:      *checkins,
		NoMetrics:     !*metricsOn,
		FailAfter:     *failAfter,
		StoreDSN:      *storeDSN,
		StorePassword: string(storePw),
		GitHubAPI:     apiBase(*ghAPI),
		PublicURL:     *publicURL,
		GitHubRepo:    *ghRepo,
		Logger:        log,
	})
}

// defaultListen is where serve listens without --listen.
const defaultListen = "127.0.0.1:8080"

// serveListeners returns the listeners of the flags: plain ones for each
// --listen (defaultListen when no listener flag is given at all), TLS
// ones for each --tls-listen with the certificate files, operator ones
// for each --admin-listen.
func serveListeners(plain, tlsAddrs, admin []string, cert, key string, log *slog.Logger) ([]server.Listener, *server.CertFiles, error) {
	if len(plain) == 0 && len(tlsAddrs) == 0 {
		plain = []string{defaultListen}
	}
	var out []server.Listener
	for _, a := range plain {
		out = append(out, server.Listener{Addr: a})
	}
	var certs *server.CertFiles
	switch {
	case len(tlsAddrs) > 0 && (cert == "" || key == ""):
		return nil, nil, errors.New("--tls-listen needs --tls-cert and --tls-key")
	case len(tlsAddrs) == 0 && (cert != "" || key != ""):
		return nil, nil, errors.New("--tls-cert and --tls-key need --tls-listen: the address to serve TLS on")
	case len(tlsAddrs) > 0:
		var err error
		if certs, err = server.NewCertFiles(cert, key, log); err != nil {
			return nil, nil, err
		}
		for _, a := range tlsAddrs {
			out = append(out, server.Listener{Addr: a, TLS: certs.TLSConfig()})
		}
	}
	for _, a := range admin {
		out = append(out, server.Listener{Addr: a, Operator: true})
	}
	return out, certs, nil
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
