package clock

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fired reports whether tm has fired, and at what time.
func fired(tm Timer) (time.Time, bool) {
	select {
	case at := <-tm.C():
		return at, true
	default:
		return time.Time{}, false
	}
}

func TestFakeAdvance(t *testing.T) {
	f := NewFake(t0)
	late, soon := f.NewTimer(3*time.Second), f.NewTimer(time.Second)
	stopped := f.NewTimer(2 * time.Second)
	if got, want := f.Pending(), []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}; !slices.Equal(got, want) {
		t.Fatalf("Pending: got %v, want %v", got, want)
	}
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop: want true for a pending timer, then false")
	}

	f.Advance(999 * time.Millisecond)
	if _, ok := fired(soon); ok {
		t.Fatal("a 1s timer fired after 999ms")
	}
	f.Advance(time.Millisecond)
	if at, ok := fired(soon); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Errorf("the 1s timer after 1s: got fired=%v at %v, want fired at %v", ok, at, t0.Add(time.Second))
	}
	if soon.Stop() {
		t.Error("Stop of a fired timer: got true, want false")
	}
	if got, want := f.Pending(), []time.Duration{2 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("Pending after 1s: got %v, want %v (the stopped timer is gone)", got, want)
	}

	f.Advance(time.Hour)
	if _, ok := fired(late); !ok {
		t.Error("the 3s timer did not fire an hour later")
	}
	if _, ok := fired(stopped); ok {
		t.Error("a stopped timer fired")
	}
	if got, want := f.Now(), t0.Add(time.Hour+time.Second); !got.Equal(want) {
		t.Errorf("Now: got %v, want %v", got, want)
	}
	if got, want := f.Waits(), []time.Duration{3 * time.Second, time.Second, 2 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("Waits: got %v, want %v", got, want)
	}
}

func TestFakeZeroTimerFiresAtOnce(t *testing.T) {
	f := NewFake(t0)
	if _, ok := fired(f.NewTimer(0)); !ok {
		t.Error("a zero timer did not fire at once")
	}
	if _, ok := fired(f.NewTimer(-time.Second)); !ok {
		t.Error("a negative timer did not fire at once")
	}
	if p := f.Pending(); len(p) != 0 {
		t.Errorf("Pending: got %v, want none", p)
	}
}

func TestAutoFake(t *testing.T) {
	f := NewAutoFake(t0)
	for _, d := range []time.Duration{time.Second, 0, time.Minute} {
		if _, ok := fired(f.NewTimer(d)); !ok {
			t.Fatalf("a %v timer of an automatic Fake did not fire at once", d)
		}
	}
	if got, want := f.Now(), t0.Add(time.Minute+time.Second); !got.Equal(want) {
		t.Errorf("Now: got %v, want %v (moved by every wait)", got, want)
	}
	if got, want := f.Waits(), []time.Duration{time.Second, 0, time.Minute}; !slices.Equal(got, want) {
		t.Errorf("Waits: got %v, want %v", got, want)
	}
}

func TestSystem(t *testing.T) {
	c := Or(nil)
	if _, ok := c.(System); !ok {
		t.Fatalf("Or(nil): got %T, want System", c)
	}
	if f := NewFake(t0); Or(f) != f {
		t.Error("Or(f): want f")
	}
	before := time.Now()
	at := <-c.NewTimer(time.Millisecond).C()
	if at.Before(before.Add(time.Millisecond)) {
		t.Errorf("system timer fired at %v, before %v + 1ms", at, before)
	}
	if tm := c.NewTimer(time.Hour); !tm.Stop() {
		t.Error("Stop of a pending system timer: got false")
	}
}
