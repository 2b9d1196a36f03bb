package checkin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/otagit/otagit/internal/testwait"
)

func openTestBolt(t testing.TB, path string, keep int) *Bolt {
	t.Helper()
	s, err := OpenBolt(path, BoltOptions{KeepPerDevice: keep})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBolt(t *testing.T) {
	testStore(t, storeHarness{
		open: func(t *testing.T, keep int) Store {
			return openTestBolt(t, filepath.Join(t.TempDir(), "checkins.db"), keep)
		},
		reopen: func(t *testing.T, s Store) Store {
			b := s.(*Bolt)
			path := b.db.Path()
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			return openTestBolt(t, path, b.keep)
		},
	})
}

func TestOpenBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkins.db")
	openTestBolt(t, path, 0)
	// bbolt waits out the timeout on the system clock; a lock that was
	// waited for without end would never report.
	opened := make(chan error, 1)
	go func() {
		s, err := OpenBolt(path, BoltOptions{Timeout: 50 * time.Millisecond})
		if err == nil {
			s.Close()
		}
		opened <- err
	}()
	if err := testwait.Recv(t, "OpenBolt of a locked file to give up", opened); err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("got %v, want a locked error", err)
	}
}

func TestOpenBoltNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkins.db")
	s := openTestBolt(t, path, 0)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, []byte{boltSchema + 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenBolt(path, BoltOptions{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("got %v, want an error about a newer schema", err)
	}
}

func TestBoltFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkins.db")
	openTestBolt(t, path, 0)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("mode: got %v, want %v", got, want)
	}
}

func TestBoltCorruptRecord(t *testing.T) {
	ctx := context.Background()
	s := openTestBolt(t, filepath.Join(t.TempDir(), "checkins.db"), 0)
	if err := s.Save(ctx, []CheckIn{sampleCheckIn(testMAC(1), 0)}, []Device{sampleDevice(testMAC(1), "1")}); err != nil {
		t.Fatal(err)
	}
	m := testMAC(1)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketDevices).Put(m[:], []byte{formatV1, 1}); err != nil {
			return err
		}
		k, _ := tx.Bucket(bucketCheckins).Cursor().Last()
		if len(k) != checkinKeyLen {
			t.Fatalf("last key %x is not a check-in's", k)
		}
		if err := tx.Bucket(bucketCheckins).Put(k, []byte{99}); err != nil {
			return err
		}
		return tx.Bucket(bucketCheckins).Put(m[:], []byte{0xFF}) // the count: a truncated uvarint
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadDevices(ctx); !errors.Is(err, ErrCorrupt) {
		t.Errorf("LoadDevices: got %v, want ErrCorrupt", err)
	}
	if _, err := s.History(ctx, testMAC(1), 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("History: got %v, want ErrCorrupt", err)
	}
	if err := s.Save(ctx, []CheckIn{sampleCheckIn(testMAC(1), 1)}, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Save over a corrupt count: got %v, want ErrCorrupt", err)
	}
}

// TestBoltKeepChanged reopens a file with a different KeepPerDevice: the
// next Save of a device prunes it to the new limit, or lets it grow to it.
func TestBoltKeepChanged(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "checkins.db")
	m := testMAC(1)
	save := func(s *Bolt, from, to int) {
		t.Helper()
		var cs []CheckIn
		for i := from; i < to; i++ {
			cs = append(cs, sampleCheckIn(m, i))
		}
		if err := s.Save(ctx, cs, nil); err != nil {
			t.Fatal(err)
		}
	}
	count := func(s *Bolt) int {
		t.Helper()
		h, err := s.History(ctx, m, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(h)
	}
	steps := []struct {
		keep, from, to int
		want           int
	}{
		{10, 0, 10, 10},
		{3, 10, 11, 3}, // lowered: pruned at the next Save
		{5, 11, 14, 5}, // raised: grows to the new limit
		{5, 14, 15, 5},
		{50, 15, 16, 6},
	}
	for _, st := range steps {
		s := openTestBolt(t, path, st.keep)
		save(s, st.from, st.to)
		if got := count(s); got != st.want {
			t.Errorf("keep %d after check-ins %d..%d: got %d, want %d", st.keep, st.from, st.to-1, got, st.want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
