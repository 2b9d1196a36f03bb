// Package clock is the time as code that waits sees it: the system clock
// in production and a Fake in tests, which moves only when the test says,
// so that a test of a backoff, a rate limit or a deadline neither sleeps
// through it nor races it.
package clock

import (
	"slices"
	"sync"
	"time"
)

// Clock tells the time and makes timers. Implementations are safe for
// concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a Timer that fires once d has passed; at once if
	// d <= 0.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer, as time.Timer is.
type Timer interface {
	// C delivers the time when the timer fires.
	C() <-chan time.Time
	// Stop keeps the timer from firing. It reports whether it did so,
	// false meaning the timer had fired or been stopped already.
	Stop() bool
}

// Or returns c, or the system clock if c is nil: the default of an
// optional Clock in a config struct.
func Or(c Clock) Clock {
	if c == nil {
		return System{}
	}
	return c
}

// System is the system clock. The zero value is ready to use.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer for d.
func (System) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (s systemTimer) C() <-chan time.Time { return s.t.C }
func (s systemTimer) Stop() bool          { return s.t.Stop() }

// Fake is a Clock for tests whose time moves only when Advance is called,
// or, if it is automatic, when a timer is made. It records the duration of
// every timer made, so a test can check what the code waited for. It is
// safe for concurrent use; make one with NewFake or NewAutoFake.
type Fake struct {
	auto bool // set once by the constructor

	// mu guards the fields below.
	mu      sync.Mutex
	now     time.Time
	pending []*fakeTimer // made, not yet fired nor stopped
	waits   []time.Duration
}

// NewFake returns a Fake at time now whose timers fire only when Advance
// reaches their deadline. Code under test waits in its own goroutine; the
// test waits for Pending to show it waiting, then advances.
func NewFake(now time.Time) *Fake { return &Fake{now: now} }

// NewAutoFake returns a Fake at time now on which waiting takes no time:
// making a timer moves the time to the timer's deadline and fires it. It
// suits code that waits in the test's own goroutine and alone uses the
// clock.
func NewAutoFake(now time.Time) *Fake { return &Fake{now: now, auto: true} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when the fake time reaches Now()+d;
// at once if d <= 0, or if f is automatic.
func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	ft := &fakeTimer{f: f, at: f.now.Add(d), c: make(chan time.Time, 1)}
	f.waits = append(f.waits, d)
	switch {
	case d <= 0:
		ft.c <- f.now
	case f.auto:
		f.advance(d)
		ft.c <- f.now
	default:
		f.pending = append(f.pending, ft)
	}
	return ft
}

// Advance moves the fake time forward by d and fires, in the order of
// their deadlines, the timers that are then due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advance(d)
}

// advance is Advance with f.mu held.
func (f *Fake) advance(d time.Duration) {
	f.now = f.now.Add(d)
	slices.SortStableFunc(f.pending, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	n := 0
	for _, ft := range f.pending {
		if ft.at.After(f.now) {
			break
		}
		ft.c <- f.now // capacity 1, and each timer fires once
		n++
	}
	f.pending = slices.Delete(f.pending, 0, n)
}

// Pending returns, for each timer waiting to fire, the time left until it
// does, soonest first.
func (f *Fake) Pending() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	left := make([]time.Duration, len(f.pending))
	for i, ft := range f.pending {
		left[i] = ft.at.Sub(f.now)
	}
	slices.Sort(left)
	return left
}

// Waits returns the durations of all timers made so far, in the order
// they were made.
func (f *Fake) Waits() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.waits)
}

type fakeTimer struct {
	f  *Fake
	at time.Time
	c  chan time.Time
}

func (ft *fakeTimer) C() <-chan time.Time { return ft.c }

func (ft *fakeTimer) Stop() bool {
	f := ft.f
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.Index(f.pending, ft)
	if i < 0 {
		return false
	}
	f.pending = slices.Delete(f.pending, i, i+1)
	return true
}
