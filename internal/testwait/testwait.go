// Package testwait waits, in tests, for what happens in the background: a
// condition to hold or a value to arrive. It waits on progress, never for
// a fixed time, so a loaded machine makes a test slower but never fails
// it; it gives up, naming what it waited for, only after a limit far
// beyond what anything awaited takes.
package testwait

import (
	"testing"
	"time"
)

// Limit is the longest For and Recv wait, and how long ForProgress waits
// without progress: far more than anything awaited takes on a loaded
// 2-core machine under the race detector. When the test's deadline (go
// test -timeout) is nearer, the wait ends before it instead, so that the
// failure says what was awaited rather than the test binary panicking.
const Limit = time.Minute

// maxPause is the longest pause between two checks of a condition.
const maxPause = 10 * time.Millisecond

// For polls cond until it returns true, and fails the test if it is
// still false after Limit. Like t.Fatal, it must be called from the
// test's goroutine.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ForProgress(t, what, cond, func() struct{} { return struct{}{} })
}

// ForProgress polls cond until it returns true, for as long as it takes
// while progress keeps changing: it fails the test only after Limit passes
// with progress returning the same value. It suits long work that reports
// what it has done, such as a writer draining a queue. It must be called
// from the test's goroutine.
func ForProgress[P comparable](t testing.TB, what string, cond func() bool, progress func() P) {
	t.Helper()
	limit := limitOf(t)
	last, lastAt := progress(), time.Now()
	for pause := 50 * time.Microsecond; !cond(); pause = min(2*pause, maxPause) {
		now := time.Now()
		if p := progress(); p != last {
			last, lastAt = p, now
		} else if stalled := now.Sub(lastAt); stalled > limit {
			t.Fatalf("gave up waiting for %s: nothing happened for %v", what, stalled.Round(time.Millisecond))
		}
		time.Sleep(pause)
	}
}

// Recv returns the next value received from ch, and fails the test if
// none arrives within Limit. It must be called from the test's goroutine.
func Recv[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	limit := limitOf(t)
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("gave up waiting for %s after %v", what, limit)
	}
	var zero T
	return zero
}

// limitOf returns Limit, or less if t's deadline is nearer.
func limitOf(t testing.TB) time.Duration {
	limit := Limit
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if end, ok := dt.Deadline(); ok {
			// Leave a tenth of what remains for the failure to be
			// reported and the test's cleanups to run.
			limit = min(limit, time.Until(end)*9/10)
		}
	}
	return limit
}
