package server

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/otagit/otagit/access"
	"github.com/otagit/otagit/commitsig"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/httpapi"
)

// Config is everything Run needs. The zero value of every optional field
// is a working default.
type Config struct {
	// Store configures the Git sync: the config repository, the data
	// directory (which also holds the artifact cache, GitHub release
	// state and the check-in database) and polling. Its Cache and GitHub
	// fields are set by Run.
	Store gitstore.Options
	// Listeners are the addresses the server accepts connections on; at
	// least one. Every listener serves every route.
	Listeners []Listener
	// WebhookSecret is the GitHub webhook secret; without one, POST
	// /webhook/github refuses every delivery. Reload it with a Reloader.
	WebhookSecret *access.Secret
	// GitHubToken authenticates GitHub API calls; without it releases of
	// public repositories still work (at GitHub's lower rate limit) and
	// pull request reviews are off.
	GitHubToken string
	// GitHubAPI is the API base URL ending in "/", "" for api.github.com.
	GitHubAPI string
	// PublicURL is linked from pull request statuses; optional.
	PublicURL string
	// GitHubRepo is the config repository's owner/name, whose pushes and
	// pull requests webhooks act on; "" derives it from Store.Remote (and
	// accepts every repository for a local path).
	GitHubRepo string
	// AdminToken authorizes operator write calls, and grants read; unset
	// disables the write calls.
	AdminToken *access.Secret
	// ReadToken grants the read API and the dashboard on every listener
	// (see access.Guard); without it they are served only on operator
	// listeners, or with the admin token.
	ReadToken *access.Secret
	// TrustedProxies are the reverse proxies whose forwarding headers give
	// the client address that check-ins, logs and limits see.
	TrustedProxies access.Proxies
	// Reload, when it receives (SIGHUP), has every Reloader reload; an
	// error is logged and the old value kept. The server never stops
	// because of it.
	Reload <-chan os.Signal
	// Reloaders are what Reload reloads, in order: secrets, certificates,
	// credential files.
	Reloaders []Reloader
	// ReloadKeys, if set, is called on Reload for the firmware signing
	// keys and commit keyrings; what it returns replaces the store's (see
	// gitstore.Store.SetTrust). On an error the old keys are kept.
	ReloadKeys func() (*config.Trust, *commitsig.Keyring, error)
	// DeviceAuthorizer, if set, authenticates every device request
	// (devauth.Authorizer); nil serves any device the whitelist names.
	DeviceAuthorizer httpapi.DeviceAuthorizer
	// CheckIns turns on recording device check-ins (DATA/checkins.db).
	CheckIns bool
	// StoreDSN, when set, is the PostgreSQL database that keeps check-ins,
	// outcomes and halts, shared by every replica; empty keeps them in
	// DATA/checkins.db. It must not hold a password: StorePassword does,
	// or $PGPASSWORD.
	StoreDSN      string
	StorePassword string
	// NoMetrics turns off /metrics and the counting of device requests
	// for it (the load test's baseline of their cost).
	NoMetrics bool
	// FailAfter is how many old-version check-ins after an offer make a
	// failed update; 0 is checkin's default.
	FailAfter int
	// ShutdownTimeout is how long requests under way get to finish once
	// Run's context ends. Downloads still running then are cut off; their
	// handlers, which then return at once, get up to CutOffWait more to
	// hand over their check-ins. Default 30 seconds.
	ShutdownTimeout time.Duration
	// Logger receives the server's records. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock that device decisions, check-ins and the dashboard
	// see; default time.Now. Simulations and browser tests set it.
	Now func() time.Time
	// Ready, if set, is called once every listener accepts connections,
	// with their addresses in the order of Listeners (useful with port 0).
	Ready func(addrs []string)
}

// Reloader is something the server reloads on SIGHUP: a token file, a
// certificate, a key directory. Reload keeps the old value on an error.
type Reloader interface {
	Reload() error
}

// ReloadFunc makes a function a Reloader.
type ReloadFunc func() error

// Reload calls f.
func (f ReloadFunc) Reload() error { return f() }

// Listener is one address the server accepts connections on.
type Listener struct {
	// TLS, if set, makes the listener speak TLS with it (see
	// CertFiles.TLSConfig for one whose certificate reloads).
	TLS *tls.Config
	// Operator makes this an operator listener, which serves the read API
	// and the dashboard without a token (see access.Guard): bind it to
	// loopback or a management network.
	Operator bool
	// Addr is a TCP address, "host:port"; port 0 picks a free port.
	Addr string
	// Listener, if set, is used instead of listening on Addr: a socket
	// passed in by a service manager, or one a test controls. Run takes
	// it over and closes it.
	Listener net.Listener
}

// Server timeouts. Devices download over slow Wi-Fi, so writes get minutes;
// reading a request has no reason to take long.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 10 * time.Minute
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 64 << 10
	// A TLS handshake is bounded by net/http with the smallest of the
	// timeouts above, readHeaderTimeout.

	defaultShutdownTimeout = 30 * time.Second
)

// CutOffWait bounds the wait, after the shutdown timeout has cut off the
// downloads still running, for their handlers to return. A handler whose
// connection is closed returns as soon as its next write fails; this only
// bounds one stuck elsewhere.
const CutOffWait = 5 * time.Second

// withDefaults returns cfg with its defaults filled in, or an error if it
// cannot be run.
func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.Listeners) == 0 {
		return cfg, errors.New("server: no listener configured")
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = defaultShutdownTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Store.Logger == nil {
		cfg.Store.Logger = cfg.Logger
	}
	return cfg, nil
}
