package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/plan"
	"github.com/otagit/otagit/webhook"
)

// reviewPlanner plans pull requests for the webhook reviewer: the store
// fetches and loads the pull request's base and head, and the plan package
// compares them with the server's own decision code.
// With a tracker, devices' reported versions and run-time halts are used,
// so the plan says what each device that checked in gets from the version
// it runs; the others are planned from every version they may run.
func reviewPlanner(store *gitstore.Store, tracker *checkin.Tracker) webhook.Planner {
	return webhook.PlannerFunc(func(ctx context.Context, pr webhook.PullRequest) (webhook.Plan, error) {
		fork := pr.HeadRepo != "" && !strings.EqualFold(pr.HeadRepo, pr.Repo)
		rv, err := store.LoadForReview(ctx, pr.BaseSHA, pr.HeadSHA, pr.Number, fork)
		if err != nil {
			return webhook.Plan{}, err
		}
		in := plan.Input{Now: time.Now()}
		if tracker != nil {
			in.Halts, in.Reported = tracker, tracker.Reported
		}
		res := plan.FromSnapshots(rv.Base, rv.Head, rv.HeadProblems, in)
		var md strings.Builder
		if err := plan.WriteMarkdown(&md, res.Header, &res.Plan); err != nil {
			return webhook.Plan{}, err
		}
		out := webhook.Plan{Valid: res.Valid(), Markdown: md.String()}
		if out.Valid {
			out.Summary = res.Plan.Summary()
		} else {
			out.Summary = fmt.Sprintf("%d config errors; first: %s", len(res.Header.HeadProblems), res.Header.HeadProblems[0])
		}
		return out, nil
	})
}
