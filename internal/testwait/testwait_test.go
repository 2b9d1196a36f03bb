package testwait

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// shortTB is a test whose deadline is near, so that waits give up soon;
// Fatalf records the message and ends the goroutine, as t.Fatalf does.
type shortTB struct {
	testing.TB
	deadline time.Time
	fatal    string
}

func (s *shortTB) Helper()                     {}
func (s *shortTB) Deadline() (time.Time, bool) { return s.deadline, true }
func (s *shortTB) Fatalf(format string, args ...any) {
	s.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func newShortTB(t *testing.T, d time.Duration) *shortTB {
	return &shortTB{TB: t, deadline: time.Now().Add(d)}
}

// run calls f with tb in a goroutine and returns once f has returned or
// ended the goroutine.
func run(tb *shortTB, f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(tb)
	}()
	<-done
}

func TestFor(t *testing.T) {
	var n atomic.Int64
	go func() {
		for range 5 {
			n.Add(1)
		}
	}()
	For(t, "five increments", func() bool { return n.Load() == 5 })
}

func TestForGivesUp(t *testing.T) {
	tb := newShortTB(t, 100*time.Millisecond)
	run(tb, func(tb testing.TB) { For(tb, "the impossible", func() bool { return false }) })
	if !strings.Contains(tb.fatal, "gave up waiting for the impossible") {
		t.Errorf("failure: got %q, want it to name what was awaited", tb.fatal)
	}
}

func TestForProgressWaitsWhileMoving(t *testing.T) {
	// The deadline leaves a limit of 90ms; the job takes longer, but its
	// progress changes every time it is looked at.
	tb := newShortTB(t, 100*time.Millisecond)
	var steps atomic.Int64
	start := time.Now()
	run(tb, func(tb testing.TB) {
		ForProgress(tb, "a long job", func() bool { return time.Since(start) > 300*time.Millisecond }, func() int64 { return steps.Add(1) })
	})
	if tb.fatal != "" {
		t.Errorf("gave up on a job that kept moving: %s", tb.fatal)
	}

	tb = newShortTB(t, 100*time.Millisecond)
	run(tb, func(tb testing.TB) {
		ForProgress(tb, "a stuck job", func() bool { return false }, func() int { return 7 })
	})
	if !strings.Contains(tb.fatal, "gave up waiting for a stuck job: nothing happened for") {
		t.Errorf("failure: got %q, want it to say the job was stuck", tb.fatal)
	}
}

func TestRecv(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 42
	if got := Recv(t, "the answer", ch); got != 42 {
		t.Errorf("got %d, want 42", got)
	}

	tb := newShortTB(t, 100*time.Millisecond)
	run(tb, func(tb testing.TB) { Recv(tb, "a value never sent", make(chan int)) })
	if !strings.Contains(tb.fatal, "gave up waiting for a value never sent") {
		t.Errorf("failure: got %q, want it to name what was awaited", tb.fatal)
	}
}
