package lograte

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := Limiter{Burst: 2, Window: time.Second}
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	var got []bool
	for i := range 5 {
		ok, _ := l.Allow(t0.Add(time.Duration(i) * 100 * time.Millisecond))
		got = append(got, ok)
	}
	if want := []bool{true, true, false, false, false}; !equal(got, want) {
		t.Fatalf("within one window: %v, want %v", got, want)
	}
	// The next window's first record says how many were left out.
	if ok, skipped := l.Allow(t0.Add(time.Second)); !ok || skipped != 3 {
		t.Fatalf("next window: ok %v, skipped %d; want true, 3", ok, skipped)
	}
	if ok, skipped := l.Allow(t0.Add(time.Second + time.Millisecond)); !ok || skipped != 0 {
		t.Fatalf("second record of the window: ok %v, skipped %d; want true, 0", ok, skipped)
	}
	var zero Limiter
	for range 100 {
		if ok, _ := zero.Allow(t0); !ok {
			t.Fatal("the zero Limiter refused a record")
		}
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
