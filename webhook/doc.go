// Package webhook receives GitHub webhooks and reviews pull requests.
//
// Handler checks each delivery's signature, turns pushes to the served
// branch and release changes into syncs, and queues pull requests for
// review. Reviewer works through the queued pull requests: it plans each
// one and reports the plan as a commit status and one comment, through
// the GitHub API client of package githubapi.
package webhook
