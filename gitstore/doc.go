// Package gitstore keeps a local clone of the config repository in sync
// and publishes its newest valid commit as an immutable Snapshot: one
// goroutine owns the clone, fetches on a trigger or a timer, loads the
// commit's tree with package config, dates releases from first-parent
// history, and swaps the snapshot in atomically. An invalid commit never
// replaces the last good one; it is reported in Status instead.
package gitstore
