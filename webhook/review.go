package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otagit/otagit/githubapi"
	"github.com/otagit/otagit/internal/clock"
)

// PlanMarker marks the Reviewer's comment on a pull request, so that
// later pushes edit that comment instead of adding new ones.
const PlanMarker = "<!-- otagit-plan -->"

// Reviewer defaults.
const (
	defaultStatusContext = "otagit/validate"
	defaultBackoff       = 2 * time.Second
	defaultPlanTimeout   = 5 * time.Minute
	// reviewAttempts bounds tries of one GitHub call that fails (waits
	// for a rate limit to reset are not counted).
	reviewAttempts = 4
	// maxPendingReviews bounds the queue: pull requests are coalesced,
	// so only a flood of distinct ones could reach it.
	maxPendingReviews = 1000
)

// Planner validates and plans the head of a pull request against its base.
type Planner interface {
	// PlanPullRequest returns the plan for pr's head commit. An invalid
	// config is a Plan with Valid false; an error means no plan could be
	// made at all (the head could not be fetched, say).
	PlanPullRequest(ctx context.Context, pr PullRequest) (Plan, error)
}

// PlannerFunc adapts a function to a Planner, e.g. a closure over a
// gitstore planner whose own types differ.
type PlannerFunc func(ctx context.Context, pr PullRequest) (Plan, error)

// PlanPullRequest returns f(ctx, pr).
func (f PlannerFunc) PlanPullRequest(ctx context.Context, pr PullRequest) (Plan, error) {
	return f(ctx, pr)
}

// Plan is what a pull request would change, as reported on GitHub.
type Plan struct {
	// Valid is false when the head's config has errors; the commit status
	// is then "failure".
	Valid bool
	// Summary is one line for the commit status, e.g. "3 devices change,
	// 1 release added" or "2 config errors".
	Summary string
	// Markdown is the full body of the pull request comment.
	Markdown string
}

// ReviewClient is the part of the GitHub API a Reviewer needs; *Client
// implements it.
type ReviewClient interface {
	// SetStatus sets a commit status; see Client.SetStatus.
	SetStatus(ctx context.Context, repo, sha, state, description, context_ string) error
	// UpsertComment creates or edits the comment containing marker; see
	// Client.UpsertComment.
	UpsertComment(ctx context.Context, repo string, pr int, marker, body string) (int64, error)
}

// StatusCreator is implemented by a ReviewClient that can link a commit
// status to a URL, as *Client does. The Reviewer uses it when
// ReviewerConfig.TargetURL is set.
type StatusCreator interface {
	// CreateStatus sets a commit status; see Client.CreateStatus.
	CreateStatus(ctx context.Context, repo, sha string, st githubapi.Status) error
}

// ReviewerConfig configures a Reviewer.
type ReviewerConfig struct {
	// Client reports to GitHub. Required.
	Client ReviewClient
	// Planner plans pull requests. Required.
	Planner Planner
	// Logger receives a record per review and per failed GitHub call.
	// Default slog.Default().
	Logger *slog.Logger
	// StatusContext names the commit status. Default "otagit/validate".
	StatusContext string
	// TargetURL, if set, is linked from the commit statuses (when Client
	// is a StatusCreator), e.g. the server's /api/status.
	TargetURL string
	// PlanTimeout bounds one Planner call. Default 5 minutes.
	PlanTimeout time.Duration
	// Backoff is the wait before retrying a failed GitHub call; it doubles
	// for each further retry. Default 2 seconds.
	Backoff time.Duration
	// Clock times the waits between retries and until a rate limit
	// resets. Default the system clock; tests pass a clock.Fake.
	Clock clock.Clock
}

// Reviewer plans pull requests one at a time and reports each plan on
// GitHub: a commit status on the head commit ("pending" while planning,
// then "success", "failure" for an invalid config, or "error" if no plan
// could be made) and one comment per pull request, edited in place on
// later pushes. Enqueue is safe for concurrent use; Run is called once.
type Reviewer struct {
	cfg     ReviewerConfig
	log     *slog.Logger
	running atomic.Bool
	wake    chan struct{} // capacity 1: a pending wake-up

	// mu guards pending and order.
	mu      sync.Mutex
	pending map[prKey]PullRequest
	order   []prKey // FIFO of the keys in pending
}

// prKey identifies a pull request; GitHub repository names are
// case-insensitive.
type prKey struct {
	repo   string
	number int
}

func keyOf(pr PullRequest) prKey { return prKey{strings.ToLower(pr.Repo), pr.Number} }

// NewReviewer returns a Reviewer for cfg; nothing happens until Run.
func NewReviewer(cfg ReviewerConfig) *Reviewer {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StatusContext == "" {
		cfg.StatusContext = defaultStatusContext
	}
	if cfg.PlanTimeout <= 0 {
		cfg.PlanTimeout = defaultPlanTimeout
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = defaultBackoff
	}
	cfg.Clock = clock.Or(cfg.Clock)
	return &Reviewer{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "review"),
		wake:    make(chan struct{}, 1),
		pending: make(map[prKey]PullRequest),
	}
}

// Enqueue queues pr for review and returns at once. A pull request already
// waiting is replaced by pr, keeping its place in the queue: only the
// newest head is worth planning.
func (r *Reviewer) Enqueue(pr PullRequest) {
	k := keyOf(pr)
	r.mu.Lock()
	_, waiting := r.pending[k]
	full := !waiting && len(r.pending) >= maxPendingReviews
	if !full {
		r.pending[k] = pr
		if !waiting {
			r.order = append(r.order, k)
		}
	}
	r.mu.Unlock()
	if full {
		r.log.Warn("review queue full: pull request dropped", "repo", pr.Repo, "pr", pr.Number)
		return
	}
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// next removes and returns the oldest queued pull request.
func (r *Reviewer) next() (PullRequest, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.order) == 0 {
		return PullRequest{}, false
	}
	k := r.order[0]
	r.order = r.order[1:]
	pr := r.pending[k]
	delete(r.pending, k)
	return pr, true
}

// superseded reports whether a newer event for pr's pull request waits.
func (r *Reviewer) superseded(pr PullRequest) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.pending[keyOf(pr)]
	return ok
}

// Run reviews queued pull requests, one at a time, until ctx is done; it
// then returns nil. A review under way when ctx ends is abandoned. Run
// returns an error at once if it is already running.
func (r *Reviewer) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("reviewer is already running")
	}
	defer r.running.Store(false)
	for {
		if ctx.Err() != nil {
			return nil
		}
		pr, ok := r.next()
		if !ok {
			select {
			case <-ctx.Done():
				return nil
			case <-r.wake:
			}
			continue
		}
		r.review(ctx, pr)
	}
}

// review plans pr and reports the plan.
func (r *Reviewer) review(ctx context.Context, pr PullRequest) {
	log := r.log.With("repo", pr.Repo, "pr", pr.Number, "head_sha", short(pr.HeadSHA))
	start := time.Now()
	log.Info("reviewing pull request", "head_repo", pr.HeadRepo, "base_sha", short(pr.BaseSHA))

	// A failed pending status is no reason not to plan.
	r.status(ctx, log, pr, "pending", "planning...")

	planCtx, cancel := context.WithTimeout(ctx, r.cfg.PlanTimeout)
	plan, err := r.cfg.Planner.PlanPullRequest(planCtx, pr)
	cancel()
	if ctx.Err() != nil {
		log.Info("review abandoned: shutting down")
		return
	}
	if err != nil {
		log.Warn("could not plan pull request", "err", err, "took", time.Since(start).Round(time.Millisecond))
		r.status(ctx, log, pr, "error", "could not plan: "+err.Error())
		return
	}
	state, summary := "success", plan.Summary
	if !plan.Valid {
		state = "failure"
	}
	switch {
	case summary != "":
	case plan.Valid:
		summary = "config is valid"
	default:
		summary = "config has errors"
	}
	r.status(ctx, log, pr, state, summary)
	if r.superseded(pr) {
		// The comment describes the pull request, not one commit: leave
		// it to the newer head, which is next.
		log.Info("pull request reviewed; comment left to the newer head", "valid", plan.Valid, "summary", summary)
		return
	}
	body := plan.Markdown
	if !strings.Contains(body, PlanMarker) {
		body = PlanMarker + "\n" + body
	}
	err = r.retry(ctx, log, "upsert comment", func(ctx context.Context) error {
		_, err := r.cfg.Client.UpsertComment(ctx, pr.Repo, pr.Number, PlanMarker, body)
		return err
	})
	if err != nil {
		log.Warn("could not comment on pull request", "err", err)
	}
	log.Info("pull request reviewed", "valid", plan.Valid, "summary", summary,
		"took", time.Since(start).Round(time.Millisecond))
}

// status sets the commit status of pr's head, retrying, and logs a
// failure.
func (r *Reviewer) status(ctx context.Context, log *slog.Logger, pr PullRequest, state, description string) {
	sc, linked := r.cfg.Client.(StatusCreator)
	err := r.retry(ctx, log, "set status "+state, func(ctx context.Context) error {
		if linked && r.cfg.TargetURL != "" {
			return sc.CreateStatus(ctx, pr.Repo, pr.HeadSHA, githubapi.Status{
				State: state, Description: description, Context: r.cfg.StatusContext, TargetURL: r.cfg.TargetURL,
			})
		}
		return r.cfg.Client.SetStatus(ctx, pr.Repo, pr.HeadSHA, state, description, r.cfg.StatusContext)
	})
	if err != nil {
		log.Warn("could not set commit status", "state", state, "err", err)
	}
}

// retry calls f until it succeeds, fails for good, reviewAttempts calls
// have failed, or ctx is done. It waits Backoff (doubling) between
// attempts, and until the reset when GitHub's rate limit is exceeded.
func (r *Reviewer) retry(ctx context.Context, log *slog.Logger, op string, f func(context.Context) error) error {
	backoff := r.cfg.Backoff
	for attempt := 1; ; {
		err := f(ctx)
		if err == nil || ctx.Err() != nil || !retryable(err) {
			return err
		}
		var limited *githubapi.RateLimitedError
		wait := time.Duration(0)
		if errors.As(err, &limited) {
			wait = limited.Until.Sub(r.cfg.Clock.Now())
		}
		if wait <= 0 {
			if attempt >= reviewAttempts {
				return err
			}
			attempt++
			wait, backoff = backoff, backoff*2
		}
		log.Warn("GitHub call failed; retrying", "op", op, "wait", wait.Round(time.Millisecond), "err", err)
		t := r.cfg.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C():
		}
	}
}

// retryable reports whether a failed GitHub call may succeed later:
// outages, network errors and rate limits may pass; GitHub refusing the
// request itself (bad token, no permission, invalid input) will not.
func retryable(err error) bool {
	switch {
	case errors.Is(err, githubapi.ErrRateLimited):
		return true
	case errors.Is(err, githubapi.ErrInvalidRepo), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	code := githubapi.HTTPStatus(err)
	return code == 0 || code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

var (
	_ PullRequestQueue = (*Reviewer)(nil)
	_ ReviewClient     = (*githubapi.Client)(nil)
	_ StatusCreator    = (*githubapi.Client)(nil)
)
