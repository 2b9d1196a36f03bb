package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/otagit/otagit/githubapi"
	"github.com/otagit/otagit/internal/clock"
	"github.com/otagit/otagit/internal/fakegithub"
	"github.com/otagit/otagit/internal/testwait"
)

// fakePlanner returns plan for every pull request and records the calls.
// If gate is set, each call first reports on started and then waits for
// gate.
type fakePlanner struct {
	plan    func(PullRequest) (Plan, error)
	started chan PullRequest
	gate    chan struct{}

	mu    sync.Mutex
	calls []PullRequest
}

func (p *fakePlanner) PlanPullRequest(ctx context.Context, pr PullRequest) (Plan, error) {
	p.mu.Lock()
	p.calls = append(p.calls, pr)
	p.mu.Unlock()
	if p.gate != nil {
		p.started <- pr
		select {
		case <-p.gate:
		case <-ctx.Done():
			return Plan{}, ctx.Err()
		}
	}
	return p.plan(pr)
}

func (p *fakePlanner) heads() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, pr := range p.calls {
		out = append(out, pr.HeadSHA)
	}
	return out
}

// planFor returns a valid plan naming the head.
func planFor(pr PullRequest) (Plan, error) {
	return Plan{Valid: true, Summary: "1 device changes", Markdown: "plan for " + pr.HeadSHA}, nil
}

// startReviewer runs a Reviewer for cfg until the test ends.
func startReviewer(t *testing.T, cfg ReviewerConfig) *Reviewer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := NewReviewer(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: got %v, want nil after cancel", err)
		}
	})
	return r
}

func testPR(head string) PullRequest {
	return PullRequest{Repo: testRepo, Number: 7, BaseRef: "main", BaseSHA: baseSHA, HeadRef: "lamp-1.9", HeadSHA: head, HeadRepo: testRepo}
}

func TestReviewer(t *testing.T) {
	const target = "https://ota.example/api/status"
	pending := fakegithub.Status{State: "pending", Description: "planning...", Context: "otagit/validate", TargetURL: target}
	tests := []struct {
		name         string
		plan         Plan
		err          error
		wantStatuses []fakegithub.Status
		wantComment  string // "" for none
	}{
		{
			name: "valid",
			plan: Plan{Valid: true, Summary: "3 devices change, 1 release added", Markdown: "| device | from | to |"},
			wantStatuses: []fakegithub.Status{pending,
				{State: "success", Description: "3 devices change, 1 release added", Context: "otagit/validate", TargetURL: target}},
			wantComment: PlanMarker + "\n| device | from | to |",
		},
		{
			name: "invalid",
			plan: Plan{Valid: false, Summary: "2 config errors", Markdown: "platforms/lamp.toml:6: ..."},
			wantStatuses: []fakegithub.Status{pending,
				{State: "failure", Description: "2 config errors", Context: "otagit/validate", TargetURL: target}},
			wantComment: PlanMarker + "\nplatforms/lamp.toml:6: ...",
		},
		{
			name: "no summary",
			plan: Plan{Valid: true, Markdown: "nothing changes"},
			wantStatuses: []fakegithub.Status{pending,
				{State: "success", Description: "config is valid", Context: "otagit/validate", TargetURL: target}},
			wantComment: PlanMarker + "\nnothing changes",
		},
		{
			name: "planner fails",
			err:  errors.New("fetch refs/pull/7/head: connection reset"),
			wantStatuses: []fakegithub.Status{pending,
				{State: "error", Description: "could not plan: fetch refs/pull/7/head: connection reset", Context: "otagit/validate", TargetURL: target}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh := fakegithub.New(t)
			planner := &fakePlanner{plan: func(PullRequest) (Plan, error) { return tt.plan, tt.err }}
			r := startReviewer(t, ReviewerConfig{Client: newTestClient(t, gh), Planner: planner, TargetURL: target})
			r.Enqueue(testPR(headSHA))

			testwait.For(t, "the final status", func() bool { return len(gh.Statuses(testRepo, headSHA)) == len(tt.wantStatuses) })
			if tt.wantComment != "" {
				testwait.For(t, "the comment", func() bool { return len(gh.Comments(testRepo, 7)) > 0 })
			}
			if got := gh.Statuses(testRepo, headSHA); !slices.Equal(got, tt.wantStatuses) {
				t.Errorf("statuses:\ngot  %+v\nwant %+v", got, tt.wantStatuses)
			}
			comments := gh.Comments(testRepo, 7)
			switch {
			case tt.wantComment == "" && len(comments) != 0:
				t.Errorf("comments: got %+v, want none", comments)
			case tt.wantComment != "" && (len(comments) != 1 || comments[0].Body != tt.wantComment):
				t.Errorf("comments: got %+v, want one with body %q", comments, tt.wantComment)
			}
			if got, want := planner.heads(), []string{headSHA}; !slices.Equal(got, want) {
				t.Errorf("planned heads: got %q, want %q", got, want)
			}
		})
	}
}

func TestReviewerUpdatesComment(t *testing.T) {
	gh := fakegithub.New(t)
	planner := &fakePlanner{plan: planFor}
	r := startReviewer(t, ReviewerConfig{Client: newTestClient(t, gh), Planner: planner})

	var id int64
	for i, head := range []string{"1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"} {
		r.Enqueue(testPR(head))
		testwait.For(t, "the comment for "+head, func() bool {
			c := gh.Comments(testRepo, 7)
			return len(c) == 1 && c[0].Body == PlanMarker+"\nplan for "+head
		})
		if c := gh.Comments(testRepo, 7); i == 0 {
			id = c[0].ID
		} else if c[0].ID != id {
			t.Errorf("comment id after the second push: got %d, want %d (edited in place)", c[0].ID, id)
		}
		want := []fakegithub.Status{
			{State: "pending", Description: "planning...", Context: "otagit/validate"},
			{State: "success", Description: "1 device changes", Context: "otagit/validate"},
		}
		testwait.For(t, "the statuses of "+head, func() bool { return len(gh.Statuses(testRepo, head)) == 2 })
		if got := gh.Statuses(testRepo, head); !slices.Equal(got, want) {
			t.Errorf("statuses of %s: got %+v, want %+v", head, got, want)
		}
	}
}

func TestReviewerCoalesces(t *testing.T) {
	heads := make([]string, 5)
	for i := range heads {
		heads[i] = fmt.Sprintf("%040d", i+1)
	}
	newest := heads[len(heads)-1]

	t.Run("queued before Run", func(t *testing.T) {
		gh := fakegithub.New(t)
		planner := &fakePlanner{plan: planFor}
		r := NewReviewer(ReviewerConfig{Client: newTestClient(t, gh), Planner: planner, Logger: slog.New(slog.DiscardHandler)})
		for _, h := range heads {
			r.Enqueue(testPR(h))
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		testwait.For(t, "the comment", func() bool { return len(gh.Comments(testRepo, 7)) == 1 })
		cancel()
		<-done
		if got, want := planner.heads(), []string{newest}; !slices.Equal(got, want) {
			t.Errorf("planned heads: got %q, want %q", got, want)
		}
	})

	t.Run("queued while planning", func(t *testing.T) {
		gh := fakegithub.New(t)
		planner := &fakePlanner{plan: planFor, started: make(chan PullRequest), gate: make(chan struct{})}
		r := startReviewer(t, ReviewerConfig{Client: newTestClient(t, gh), Planner: planner})
		r.Enqueue(testPR(heads[0]))
		<-planner.started // the first head is being planned
		for _, h := range heads[1:] {
			r.Enqueue(testPR(h))
		}
		planner.gate <- struct{}{}
		<-planner.started // the newest head
		planner.gate <- struct{}{}

		testwait.For(t, "the comment for the newest head", func() bool {
			c := gh.Comments(testRepo, 7)
			return len(c) == 1 && c[0].Body == PlanMarker+"\nplan for "+newest
		})
		if got, want := planner.heads(), []string{heads[0], newest}; !slices.Equal(got, want) {
			t.Errorf("planned heads: got %q, want %q", got, want)
		}
		for _, h := range heads[1 : len(heads)-1] {
			if got := gh.Statuses(testRepo, h); len(got) != 0 {
				t.Errorf("statuses of the skipped head %s: got %+v, want none", h, got)
			}
		}
	})

	t.Run("other pull requests are not coalesced", func(t *testing.T) {
		gh := fakegithub.New(t)
		planner := &fakePlanner{plan: planFor}
		r := NewReviewer(ReviewerConfig{Client: newTestClient(t, gh), Planner: planner, Logger: slog.New(slog.DiscardHandler)})
		for n := 1; n <= 3; n++ {
			pr := testPR(heads[n])
			pr.Number = n
			r.Enqueue(pr)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		testwait.For(t, "three comments", func() bool {
			return len(gh.Comments(testRepo, 1))+len(gh.Comments(testRepo, 2))+len(gh.Comments(testRepo, 3)) == 3
		})
		cancel()
		<-done
		if got, want := planner.heads(), heads[1:4]; !slices.Equal(got, want) {
			t.Errorf("planned heads: got %q, want %q (in order)", got, want)
		}
	})
}

// fakeT0 is when fake clocks of GitHub tests start. go-github keeps its
// own note of a primary rate limit, on the system clock; a time long past
// keeps that note out of the way.
var fakeT0 = time.Date(2020, 1, 1, 12, 0, 0, 0, time.UTC)

// TestReviewerRateLimited: GitHub is rate limited when the review starts;
// the reviewer waits for the reset and then reports. GitHub, the client
// and the reviewer share a fake clock, so the wait is exactly until the
// reset and takes no time.
func TestReviewerRateLimited(t *testing.T) {
	clk := clock.NewFake(fakeT0)
	gh := fakegithub.New(t)
	gh.SetClock(clk.Now)
	gh.SetRateLimited(clk.Now().Add(time.Hour))
	c, err := githubapi.NewClient(githubapi.ClientConfig{BaseURL: gh.URL, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	planner := &fakePlanner{plan: planFor}
	startReviewer(t, ReviewerConfig{Client: c, Planner: planner, Backoff: time.Minute, Clock: clk}).Enqueue(testPR(headSHA))

	testwait.For(t, "the reviewer to wait for the reset", func() bool { return len(clk.Pending()) == 1 })
	if got, want := clk.Pending(), []time.Duration{time.Hour}; !slices.Equal(got, want) {
		t.Errorf("waits pending: got %v, want %v (until the reset, not a backoff)", got, want)
	}
	if got := gh.Statuses(testRepo, headSHA); len(got) != 0 {
		t.Errorf("statuses while rate limited: got %+v, want none", got)
	}
	clk.Advance(time.Hour)

	testwait.For(t, "the comment", func() bool { return len(gh.Comments(testRepo, 7)) == 1 })
	want := []fakegithub.Status{
		{State: "pending", Description: "planning...", Context: "otagit/validate"},
		{State: "success", Description: "1 device changes", Context: "otagit/validate"},
	}
	if got := gh.Statuses(testRepo, headSHA); !slices.Equal(got, want) {
		t.Errorf("statuses: got %+v, want %+v", got, want)
	}
	if got, want := clk.Waits(), []time.Duration{time.Hour}; !slices.Equal(got, want) {
		t.Errorf("waits: got %v, want %v (one, until the reset)", got, want)
	}
}

// plainClient hides CreateStatus, as a ReviewClient that is not a
// *Client might.
type plainClient struct{ ReviewClient }

func TestReviewerTargetURLNeedsStatusCreator(t *testing.T) {
	gh := fakegithub.New(t)
	startReviewer(t, ReviewerConfig{
		Client: plainClient{newTestClient(t, gh)}, Planner: &fakePlanner{plan: planFor},
		TargetURL: "https://ota.example/api/status", StatusContext: "fleet/plan",
	}).Enqueue(testPR(headSHA))
	testwait.For(t, "the final status", func() bool { return len(gh.Statuses(testRepo, headSHA)) == 2 })
	want := fakegithub.Status{State: "success", Description: "1 device changes", Context: "fleet/plan"}
	if got := gh.Statuses(testRepo, headSHA)[1]; got != want {
		t.Errorf("status: got %+v, want %+v", got, want)
	}
}

func TestReviewerRetry(t *testing.T) {
	githubErr := func(code int) error {
		return fmt.Errorf("set status: %w", &github.ErrorResponse{Response: &http.Response{StatusCode: code}, Message: http.StatusText(code)})
	}
	// The clock starts at t0 in every case and moves only by the waits,
	// so a rate limit's reset is a time relative to t0.
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	const backoff = time.Second
	tests := []struct {
		name      string
		errs      []error // returned by the first calls; then nil
		wantCalls int
		wantWaits []time.Duration
		wantErr   bool
	}{
		{"success", nil, 1, nil, false},
		{"outage then success", []error{githubErr(502), errors.New("dial tcp: connection refused")}, 3,
			[]time.Duration{backoff, 2 * backoff}, false},
		{"outage throughout", []error{githubErr(502), githubErr(503), githubErr(500), githubErr(502), githubErr(502)}, reviewAttempts,
			[]time.Duration{backoff, 2 * backoff, 4 * backoff}, true},
		{"bad token is final", []error{githubErr(401)}, 1, nil, true},
		{"validation is final", []error{githubErr(422)}, 1, nil, true},
		{"bad repo is final", []error{fmt.Errorf("x: %w", githubapi.ErrInvalidRepo)}, 1, nil, true},
		{"rate limits wait, not counted", []error{
			&githubapi.RateLimitedError{Until: t0.Add(time.Minute)},
			&githubapi.RateLimitedError{Until: t0.Add(2 * time.Minute)},
			githubErr(502), githubErr(502), githubErr(502),
		}, 6, []time.Duration{time.Minute, time.Minute, backoff, 2 * backoff, 4 * backoff}, false},
		{"rate limit without a reset backs off", []error{fmt.Errorf("x: %w", githubapi.ErrRateLimited)}, 2,
			[]time.Duration{backoff}, false},
		{"rate limit already reset backs off", []error{&githubapi.RateLimitedError{Until: t0.Add(-time.Second)}}, 2,
			[]time.Duration{backoff}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewAutoFake(t0)
			r := NewReviewer(ReviewerConfig{Backoff: backoff, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
			calls := 0
			err := r.retry(context.Background(), r.log, "test", func(context.Context) error {
				calls++
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			})
			if calls != tt.wantCalls || (err != nil) != tt.wantErr {
				t.Errorf("got %d calls and error %v, want %d calls and error %v", calls, err, tt.wantCalls, tt.wantErr)
			}
			if got := clk.Waits(); !slices.Equal(got, tt.wantWaits) {
				t.Errorf("waits: got %v, want %v", got, tt.wantWaits)
			}
		})
	}

	t.Run("context ends the wait", func(t *testing.T) {
		clk := clock.NewFake(t0)
		r := NewReviewer(ReviewerConfig{Backoff: time.Hour, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			done <- r.retry(ctx, r.log, "test", func(context.Context) error {
				return &githubapi.RateLimitedError{Until: t0.Add(time.Hour)}
			})
		}()
		testwait.For(t, "the retry to wait for the reset", func() bool { return len(clk.Pending()) == 1 })
		cancel()
		if err := testwait.Recv(t, "the retry to return once its context ends", done); !errors.Is(err, githubapi.ErrRateLimited) {
			t.Errorf("got %v, want githubapi.ErrRateLimited", err)
		}
		if p := clk.Pending(); len(p) != 0 {
			t.Errorf("timers left pending: %v, want the wait's timer stopped", p)
		}
	})
}

func TestReviewerRun(t *testing.T) {
	r := NewReviewer(ReviewerConfig{Planner: &fakePlanner{plan: planFor}, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	testwait.For(t, "Run to start", r.running.Load)
	if err := r.Run(ctx); err == nil {
		t.Error("second Run: got nil, want an error")
	}
	cancel()
	if err := testwait.Recv(t, "Run to return after cancel", done); err != nil {
		t.Errorf("Run: got %v, want nil", err)
	}
}

// newTestClient returns a GitHub API client for gh.
func newTestClient(t *testing.T, gh *fakegithub.Server) *githubapi.Client {
	t.Helper()
	c, err := githubapi.NewClient(githubapi.ClientConfig{Token: "ghp_testtoken0123456789", BaseURL: gh.URL, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}
