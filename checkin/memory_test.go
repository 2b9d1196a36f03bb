package checkin

import "testing"

func TestMemory(t *testing.T) {
	testStore(t, storeHarness{
		open: func(t *testing.T, keep int) Store {
			s := NewMemoryKeep(keep)
			t.Cleanup(func() { s.Close() })
			return s
		},
		// Memory persists for its lifetime only: reopening is keeping it.
		reopen: func(t *testing.T, s Store) Store { return s },
	})
}

func TestNewMemoryDefault(t *testing.T) {
	if got, want := NewMemory().keep, DefaultKeepPerDevice; got != want {
		t.Errorf("keep: got %d, want %d", got, want)
	}
}
