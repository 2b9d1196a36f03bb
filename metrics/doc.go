// Package metrics is otagit's Prometheus /metrics: counters of device
// requests and downloads, cheap enough for the request path, and the
// server's state (sync, serving commit, halts, rollout stages, check-in
// queue, GitHub) read from its stores at scrape time.
package metrics
