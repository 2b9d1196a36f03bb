// Package webhook is otagit's GitHub integration: webhooks (push, release,
// pull_request) and the GitHub API.
//
// Handler receives webhooks: it checks each delivery's signature, turns
// pushes to the served branch and release changes into syncs, and queues
// pull requests for review. Client reads releases and their assets (it
// implements gitstore.ReleaseSource), sets commit statuses and keeps one
// plan comment per pull request, within GitHub's rate limits. Reviewer
// works through the queued pull requests: it plans each one and reports
// the plan as a commit status and a comment.
package webhook
