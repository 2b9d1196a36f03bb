package githubapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"

	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/internal/clock"
)

// Client errors, matched with errors.Is.
var (
	// ErrRateLimited: GitHub's primary or secondary rate limit is exceeded;
	// the error is a *RateLimitedError that says until when.
	ErrRateLimited = errors.New("GitHub API rate limit exceeded")
	// ErrInvalidRepo: a repository argument is not "owner/name".
	ErrInvalidRepo = errors.New("invalid GitHub repository")
)

// maxDescription is GitHub's limit for a commit status description, in
// characters.
const maxDescription = 140

// ClientConfig configures a Client.
type ClientConfig struct {
	// Token authenticates API requests (a personal access token or an
	// installation token). Empty means anonymous, which GitHub limits to
	// 60 requests an hour and which cannot write statuses or comments.
	// It is never logged, and never sent to a host other than BaseURL's.
	Token string
	// BaseURL is the API's base URL, ending in "/". Empty means
	// https://api.github.com/; GitHub Enterprise Server is
	// https://HOST/api/v3/.
	BaseURL string
	// HTTPClient's Transport and Timeout are used for every request.
	// Nil means http.DefaultTransport and no timeout: callers bound calls
	// with their context. The Client never modifies it.
	HTTPClient *http.Client
	// Logger receives a debug record per HTTP request and a warning when
	// a rate limit is hit. Default slog.Default().
	Logger *slog.Logger
	// Clock tells the time that rate limits are held against. Default the
	// system clock; tests pass a clock.Fake.
	Clock clock.Clock
}

// Client is a GitHub REST API client for releases, commit statuses and
// pull request comments. It implements API, for Releases. It is safe
// for concurrent use.
//
// GET responses are cached by ETag and revalidated, so unchanged answers
// cost no rate limit. Once GitHub reports a rate limit, every call fails
// fast with an error matching ErrRateLimited until the limit resets,
// without reaching GitHub.
type Client struct {
	api *github.Client
	// dl is used only for DownloadReleaseAsset, which swaps the
	// CheckRedirect of its client's http.Client while it runs: on a client
	// shared with other calls that would be a data race.
	dl *github.Client
	// follow downloads an asset from the URL GitHub redirects to.
	follow *http.Client
	log    *slog.Logger
	now    func() time.Time
	stats  *apiStats

	// mu guards limitedUntil.
	mu           sync.Mutex
	limitedUntil time.Time

	// commentMu serialises UpsertComment, so that two concurrent calls for
	// the same pull request cannot both find no comment and both create one.
	commentMu sync.Mutex
	// selfLogin caches the token's user login; guarded by commentMu.
	selfLogin *string
}

var _ API = (*Client)(nil)

// NewClient returns a Client for cfg. It fails only on a bad BaseURL.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	base := cfg.BaseURL
	if base == "" {
		base = "https://api.github.com/"
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	baseURL, err := url.Parse(base)
	if err != nil || (baseURL.Scheme != "https" && baseURL.Scheme != "http") || baseURL.Host == "" {
		return nil, fmt.Errorf("GitHub API base URL %q: want an absolute http or https URL", cfg.BaseURL)
	}
	log := cfg.Logger.With("component", "github")

	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient // a copy: go-github changes CheckRedirect
	}
	transport := hc.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	stats := new(apiStats)
	stats.remaining.Store(-1)
	logged := &logTransport{base: transport, log: log, stats: stats}
	auth := func(rt http.RoundTripper) http.RoundTripper {
		return &authTransport{base: rt, token: cfg.Token, host: baseURL.Host}
	}

	apiHTTP := hc
	apiHTTP.Transport = auth(newETagTransport(logged, etagMaxEntries, etagMaxBytes))
	dlHTTP := hc
	dlHTTP.Transport = auth(logged)
	followHTTP := hc
	followHTTP.Transport = auth(logged)
	followHTTP.CheckRedirect = nil // follow redirects; authTransport keeps the token on the API host

	c := &Client{
		api:    github.NewClient(&apiHTTP),
		dl:     github.NewClient(&dlHTTP),
		follow: &followHTTP,
		log:    log,
		now:    clock.Or(cfg.Clock).Now,
		stats:  stats,
	}
	for _, gh := range []*github.Client{c.api, c.dl} {
		gh.BaseURL = baseURL
		gh.UserAgent = "otagit"
	}
	return c, nil
}

// ListReleases returns every release of repo ("owner/name"), drafts
// included (if the token may see them), newest first, reading all pages.
func (c *Client) ListReleases(ctx context.Context, repo string) ([]config.GitHubRelease, error) {
	var out []config.GitHubRelease
	err := c.call(ctx, "list releases", repo, func(owner, name string) error {
		var all []*github.RepositoryRelease
		opts := &github.ListOptions{PerPage: 100}
		for range maxPages {
			rels, resp, err := c.api.Repositories.ListReleases(ctx, owner, name, opts)
			if err != nil {
				return err
			}
			all = append(all, rels...)
			if resp.NextPage <= opts.Page || resp.NextPage == 0 {
				break
			}
			opts.Page = resp.NextPage
		}
		// GitHub lists newest first already; sorting makes the contract
		// hold even if pages shift while they are read.
		slices.SortStableFunc(all, func(a, b *github.RepositoryRelease) int {
			return b.GetCreatedAt().Compare(a.GetCreatedAt().Time)
		})
		out = make([]config.GitHubRelease, 0, len(all))
		for _, r := range all {
			out = append(out, convertRelease(r))
		}
		return nil
	})
	return out, err
}

// maxPages bounds ListReleases: 100 pages of 100 releases.
const maxPages = 100

// ReleaseByTag returns the published release of repo with the given tag.
// If there is none the error matches config.ErrReleaseNotFound.
func (c *Client) ReleaseByTag(ctx context.Context, repo, tag string) (config.GitHubRelease, error) {
	var out config.GitHubRelease
	err := c.call(ctx, "get release "+tag, repo, func(owner, name string) error {
		if tag == "" {
			return errors.New("empty tag")
		}
		r, _, err := c.api.Repositories.GetReleaseByTag(ctx, owner, name, escapeTag(tag))
		if err != nil {
			return notFound(err)
		}
		out = convertRelease(r)
		return nil
	})
	return out, err
}

// OpenAsset returns the content of release asset id of repo. GitHub
// answers with a redirect to a download host, which is followed; the
// token is sent only to the API host. If there is no such asset the error
// matches config.ErrReleaseNotFound. The caller closes the reader.
func (c *Client) OpenAsset(ctx context.Context, repo string, id int64) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := c.call(ctx, fmt.Sprintf("open asset %d", id), repo, func(owner, name string) error {
		if id <= 0 {
			return errors.New("asset id must be positive")
		}
		body, redirect, err := c.dl.Repositories.DownloadReleaseAsset(ctx, owner, name, id, c.follow)
		if err != nil {
			return notFound(err)
		}
		if body == nil {
			// Only possible without a followRedirectsClient; kept so a
			// change in go-github cannot yield a nil reader.
			return fmt.Errorf("GitHub redirected to %q and the download was not followed", redirectHost(redirect))
		}
		rc = body
		return nil
	})
	return rc, err
}

// Status is a commit status, as CreateStatus sets it.
type Status struct {
	// State is "success", "failure", "pending" or "error".
	State string
	// Description is a short line; it is truncated to 140 characters.
	Description string
	// Context names the check, e.g. "otagit/validate".
	Context string
	// TargetURL links the status to details; optional.
	TargetURL string
}

// SetStatus sets the commit status context_ of sha in repo to state
// ("success", "failure", "pending" or "error") with description, which is
// truncated to GitHub's 140 characters.
func (c *Client) SetStatus(ctx context.Context, repo, sha, state, description, context_ string) error {
	return c.CreateStatus(ctx, repo, sha, Status{State: state, Description: description, Context: context_})
}

// CreateStatus sets a commit status of sha in repo, like SetStatus, and
// can also link it to st.TargetURL.
func (c *Client) CreateStatus(ctx context.Context, repo, sha string, st Status) error {
	return c.call(ctx, "set status "+sha[:min(12, len(sha))], repo, func(owner, name string) error {
		switch st.State {
		case "success", "failure", "pending", "error":
		default:
			return fmt.Errorf("status state %q: want success, failure, pending or error", st.State)
		}
		if sha == "" {
			return errors.New("empty commit SHA")
		}
		rs := &github.RepoStatus{
			State:       github.String(st.State),
			Description: github.String(truncate(st.Description, maxDescription)),
			Context:     github.String(st.Context),
		}
		if st.TargetURL != "" {
			rs.TargetURL = github.String(st.TargetURL)
		}
		_, _, err := c.api.Repositories.CreateStatus(ctx, owner, name, sha, rs)
		return err
	})
}

// UpsertComment makes sure pull request (or issue) pr of repo has exactly
// one comment of ours containing marker, e.g. "<!-- otagit-plan -->", with
// body: it edits the first comment containing marker in place, or creates
// one if there is none. If body does not contain marker, marker is
// prepended on a line of its own, so the comment is found next time. It
// returns the comment's id.
func (c *Client) UpsertComment(ctx context.Context, repo string, pr int, marker, body string) (id int64, err error) {
	c.commentMu.Lock()
	defer c.commentMu.Unlock()
	err = c.call(ctx, fmt.Sprintf("upsert comment on #%d", pr), repo, func(owner, name string) error {
		if pr <= 0 {
			return errors.New("pull request number must be positive")
		}
		if marker == "" {
			return errors.New("empty comment marker")
		}
		if !strings.Contains(body, marker) {
			body = marker + "\n" + body
		}
		comment := &github.IssueComment{Body: github.String(body)}
		existing, err := c.findComment(ctx, owner, name, pr, marker)
		if err != nil {
			return err
		}
		if existing != 0 {
			_, _, err := c.api.Issues.EditComment(ctx, owner, name, existing, comment)
			if err == nil {
				id = existing
				return nil
			}
			if HTTPStatus(err) != http.StatusNotFound {
				return err
			}
			// Deleted since we listed it: create a new one.
		}
		created, _, err := c.api.Issues.CreateComment(ctx, owner, name, pr, comment)
		if err != nil {
			return err
		}
		id = created.GetID()
		return nil
	})
	return id, err
}

// self returns the login of the token's user, "" when GitHub does not say
// (GitHub App installation tokens cannot read /user).
func (c *Client) self(ctx context.Context) string {
	if c.selfLogin == nil {
		login := ""
		if u, _, err := c.api.Users.Get(ctx, ""); err == nil {
			login = u.GetLogin()
		}
		c.selfLogin = &login
	}
	return *c.selfLogin
}

// findComment returns the id of the oldest comment on pr containing
// marker that this client's user wrote (or, when that user is unknown, a
// bot), or 0: a comment someone else wrote with the marker in it must not
// capture the plan.
func (c *Client) findComment(ctx context.Context, owner, name string, pr int, marker string) (int64, error) {
	me := c.self(ctx)
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for range maxPages {
		comments, resp, err := c.api.Issues.ListComments(ctx, owner, name, pr, opts)
		if err != nil {
			return 0, err
		}
		for _, cm := range comments {
			mine := cm.GetUser().GetLogin() == me
			if me == "" {
				mine = cm.GetUser().GetType() == "Bot"
			}
			if mine && strings.Contains(cm.GetBody(), marker) {
				return cm.GetID(), nil
			}
		}
		if resp.NextPage <= opts.Page || resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return 0, nil
}

// call runs f for repo unless a rate limit is in force, records a rate
// limit f runs into, and wraps f's error with op and repo.
func (c *Client) call(ctx context.Context, op, repo string, f func(owner, name string) error) error {
	owner, name, err := SplitRepo(repo)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if until := c.RateLimitedUntil(); !until.IsZero() {
		return fmt.Errorf("%s %s: %w", op, repo, &RateLimitedError{Until: until})
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, repo, err)
	}
	err = f(owner, name)
	if err == nil {
		return nil
	}
	if until, ok := rateLimitReset(err, c.now()); ok {
		c.limit(until, op, repo)
		return fmt.Errorf("%s %s: %w", op, repo, &RateLimitedError{Until: until, Err: err})
	}
	return fmt.Errorf("%s %s: %w", op, repo, err)
}

// SplitRepo splits "owner/name" and checks both parts are names GitHub
// allows. The error matches ErrInvalidRepo.
func SplitRepo(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || !validRepoPart(owner, 39) || !validRepoPart(name, 100) {
		return "", "", fmt.Errorf("%w %q: want \"owner/name\" (letters, digits, '.', '-', '_')", ErrInvalidRepo, repo)
	}
	return owner, name, nil
}

func validRepoPart(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

// escapeTag escapes each "/"-separated part of a tag for a URL path: tags
// may contain characters such as '#' or '%' that go-github would
// otherwise take for URL syntax.
func escapeTag(tag string) string {
	parts := strings.Split(tag, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// notFound wraps err with config.ErrReleaseNotFound if GitHub answered
// 404.
func notFound(err error) error {
	if HTTPStatus(err) == http.StatusNotFound {
		return fmt.Errorf("%w: %w", config.ErrReleaseNotFound, err)
	}
	return err
}

// httpStatus returns the status code of GitHub's error answer, or 0 if err
// is not one (a network error, say).
// HTTPStatus returns the HTTP status GitHub answered a failed call with,
// 0 when the call failed before an answer (network, rate limit).
func HTTPStatus(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

func convertRelease(r *github.RepositoryRelease) config.GitHubRelease {
	out := config.GitHubRelease{
		ID:          r.GetID(),
		Tag:         r.GetTagName(),
		Name:        r.GetName(),
		Draft:       r.GetDraft(),
		Prerelease:  r.GetPrerelease(),
		PublishedAt: r.GetPublishedAt().Time,
	}
	for _, a := range r.Assets {
		out.Assets = append(out.Assets, config.GitHubAsset{
			ID:        a.GetID(),
			Name:      a.GetName(),
			Size:      int64(a.GetSize()),
			UpdatedAt: a.GetUpdatedAt().Time,
		})
	}
	return out
}

// truncate shortens s to at most n characters, ending it with "…" if it
// had to cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// redirectHost returns only the host of a redirect URL: download URLs
// carry signed credentials in their query.
func redirectHost(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Scheme + "://" + p.Host
}
