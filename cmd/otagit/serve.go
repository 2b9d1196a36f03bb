package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/githubapi"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/httpapi"
	"github.com/otagit/otagit/webhook"
)

// Environment variables that carry secrets, so they never appear in `ps`.
const (
	envWebhookSecret = "OTAGIT_WEBHOOK_SECRET"
	envGitToken      = "OTAGIT_GIT_TOKEN"
	envSSHPassphrase = "OTAGIT_SSH_KEY_PASSPHRASE"
	envAdminToken    = "OTAGIT_ADMIN_TOKEN"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "", stderr)
	var (
		repo        = fs.String("repo", "", "config repository: local path, file://, https://, ssh:// or git@host:owner/repo.git (required)")
		branch      = fs.String("branch", "main", "branch to serve")
		listen      = fs.String("listen", "127.0.0.1:8080", "address to listen on")
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
		adminFile   = fs.String("admin-token-file", "", "file holding the token for operator calls such as resuming a halted release (or set $"+envAdminToken+")")
		keepSnaps   = fs.Int("keep-snapshots", gitstore.DefaultKeepSnapshots, "published snapshots, the served one included, whose binaries the artifact cache keeps (at least 2); the rest is collected")
	)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *repo == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
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
	return serve(ctx, serverConfig{
		Store: gitstore.Options{
			Remote: gitstore.Remote{
				URL: *repo, Branch: *branch, Token: string(token),
				SSHKeyFile: *sshKey, SSHKeyPassphrase: os.Getenv(envSSHPassphrase), KnownHostsFile: *knownHosts,
			},
			DataDir:       *data,
			Poll:          *poll,
			FetchTimeout:  *fetchTimout,
			KeepSnapshots: *keepSnaps,
			Logger:        log,
		},
		Listen:        *listen,
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

// serverConfig is everything serve needs.
type serverConfig struct {
	Store         gitstore.Options
	Listen        string
	WebhookSecret []byte
	// GitHubToken authenticates GitHub API calls; without it releases of
	// public repositories still work (at GitHub's lower rate limit) and
	// pull request reviews are off.
	GitHubToken string
	// GitHubAPI is the API base URL, "" for api.github.com.
	GitHubAPI string
	// PublicURL is linked from pull request statuses; optional.
	PublicURL string
	// GitHubRepo is the config repository's owner/name; "" derives it
	// from the remote URL (and accepts every repository for a local path).
	GitHubRepo string
	// AdminToken authorizes operator calls; empty disables them.
	AdminToken string
	// CheckIns turns on recording device check-ins (DATA/checkins.db).
	CheckIns bool
	// FailAfter is how many old-version check-ins after an offer make a
	// failed update.
	FailAfter int
	Logger    *slog.Logger
	// Ready, if set, is called with the listening address once the server
	// accepts connections.
	Ready func(addr string)
}

// Server timeouts. Devices download over slow Wi-Fi, so writes get minutes;
// reading a request has no reason to take long.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 10 * time.Minute
	idleTimeout       = 60 * time.Second
	shutdownTimeout   = 30 * time.Second
)

// serve runs the sync loop and the HTTP server until ctx is done, then
// shuts both down gracefully.
func serve(ctx context.Context, cfg serverConfig) error {
	log := cfg.Logger
	gh, err := githubapi.NewClient(githubapi.ClientConfig{Token: cfg.GitHubToken, BaseURL: cfg.GitHubAPI, Logger: log})
	if err != nil {
		return err
	}
	cache, err := artifact.OpenCache(filepath.Join(cfg.Store.DataDir, "artifacts"))
	if err != nil {
		return err
	}
	known, err := githubapi.OpenKnownReleases(filepath.Join(cfg.Store.DataDir, "github-releases.json"))
	if err != nil {
		return err
	}
	cfg.Store.Cache = cache
	cfg.Store.GitHub = &githubapi.Releases{API: gh, Cache: cache, Known: known}
	var tracker *checkin.Tracker
	if cfg.CheckIns {
		db, err := checkin.OpenBolt(filepath.Join(cfg.Store.DataDir, "checkins.db"), checkin.BoltOptions{})
		if err != nil {
			return err
		}
		defer db.Close()
		tracker, err = checkin.NewTracker(ctx, checkin.TrackerOptions{Store: db, FailAfter: cfg.FailAfter, Logger: log})
		if err != nil {
			return err
		}
		// A commit that changes a halted release lifts its halt.
		next := cfg.Store.OnPublish
		cfg.Store.OnPublish = func(s *gitstore.Snapshot) {
			tracker.Reconcile(s.Fleet)
			if next != nil {
				next(s)
			}
		}
	}
	store, err := gitstore.New(cfg.Store)
	if err != nil {
		return err
	}
	var reviewer *webhook.Reviewer
	if cfg.GitHubToken != "" {
		reviewer = webhook.NewReviewer(webhook.ReviewerConfig{
			Client: gh, Planner: reviewPlanner(store, tracker), Logger: log, TargetURL: cfg.PublicURL,
		})
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	router := mux.NewRouter()
	apiCfg := httpapi.Config{Snapshots: store, Status: store, AdminToken: cfg.AdminToken, Logger: log}
	if tracker != nil {
		apiCfg.Tracker = tracker
	}
	httpapi.New(apiCfg).Register(router)
	if cfg.GitHubRepo == "" {
		cfg.GitHubRepo = githubapi.RepoOfRemote(cfg.Store.Remote.URL)
	}
	hookCfg := webhook.Config{Secret: cfg.WebhookSecret, Branch: cfg.Store.Remote.Branch, Repo: cfg.GitHubRepo, Syncer: store, Logger: log}
	if reviewer != nil {
		hookCfg.PullRequests = reviewer
	}
	router.Handle("/webhook/github", webhook.New(hookCfg)).Methods(http.MethodPost)
	// inflight counts running handlers, so that shutdown can wait for the
	// last check-in of a download cut short before stopping the recorder.
	var inflight atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inflight.Add(1)
			defer inflight.Add(-1)
			router.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	storeCtx, stopStore := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	storeErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		storeErr <- store.Run(storeCtx)
	}()
	if reviewer != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reviewer.Run(storeCtx)
		}()
	}
	if tracker != nil {
		// Stopped after the HTTP server, so every check-in of a request
		// that was answered is saved.
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := tracker.Run(storeCtx); err != nil {
				log.Error("check-ins not all saved", "err", err)
			}
		}()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	log.Info("otagit serving", "listen", ln.Addr().String(), "repo", cfg.Store.Remote.String(),
		"branch", cfg.Store.Remote.Branch, "data", cfg.Store.DataDir, "poll", cfg.Store.Poll,
		"webhook", len(cfg.WebhookSecret) > 0, "pr_review", reviewer != nil, "checkins", tracker != nil,
		"admin_api", cfg.AdminToken != "")
	if len(cfg.WebhookSecret) == 0 {
		log.Warn("no webhook secret: POST /webhook/github is refused; set $" + envWebhookSecret + " or --webhook-secret-file to enable it")
	}
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-storeErr:
		if err != nil {
			runErr = fmt.Errorf("sync: %w", err)
		}
	}
	log.Info("shutting down")
	shCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		// Downloads still running after the grace period are cut off;
		// their handlers then finish quickly and record their check-ins.
		log.Warn("http shutdown: closing the connections left", "err", err)
		srv.Close()
		for deadline := time.Now().Add(5 * time.Second); inflight.Load() > 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Only now: every answered request's check-in has been handed over.
	stopStore()
	wg.Wait()
	return runErr
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
