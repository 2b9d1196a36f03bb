package artifact

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
)

// TestOpenVerifies is fault 4 of issue 12 in the cache: a file rewritten
// in place with the same size is not opened for sending; it is removed
// and Damaged is signalled.
func TestOpenVerifies(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("firmware"), 4096)
	b, err := c.Put(bytes.NewReader(content), MaxBinarySize)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Open(b.File, b.SHA256)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, content) {
		t.Fatal("open read other bytes")
	}

	bad := bytes.Clone(content)
	bad[100] ^= 1
	if err := os.WriteFile(b.File, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := c.Open(b.File, b.SHA256); !errors.Is(err, ErrCorrupt) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("open after the damage: %v; want ErrCorrupt", err)
	}
	if _, err := os.Stat(b.File); !os.IsNotExist(err) {
		t.Errorf("corrupt file not removed: %v", err)
	}
	select {
	case <-c.Damaged():
	default:
		t.Error("Damaged not signalled")
	}

	// Stored again, it opens; a file checked before restarts is checked
	// again by a new Cache.
	if _, err := c.Put(bytes.NewReader(content), MaxBinarySize); err != nil {
		t.Fatal(err)
	}
	c2, err := OpenCache(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.File, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := c2.VerifyAll(nil, 0); err != nil || n != 1 {
		t.Errorf("VerifyAll: %d corrupt, %v; want 1", n, err)
	}
}

// TestPutDiskFull is fault 6 of issue 12 in the cache: a write that fails
// (ENOSPC) is ErrStorage, and leaves no file.
func TestPutDiskFull(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c.SetWriteFault(syscall.ENOSPC)
	_, err = c.Put(bytes.NewReader(bytes.Repeat([]byte{1}, 1<<20)), MaxBinarySize)
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("put: %v; want ErrStorage and ENOSPC", err)
	}
	if st := c.Stats(); st.Files != 0 {
		t.Errorf("stats after a failed put: %+v", st)
	}
	c.SetWriteFault(nil)
	if _, err := c.Put(bytes.NewReader([]byte("ok")), MaxBinarySize); err != nil {
		t.Fatalf("put once space returns: %v", err)
	}
}

// TestVerifyAllFindsRot: content that changes while the file keeps the
// fileID it was checked with (a failing disk) is not seen by Open, and is
// found by VerifyAll, the background check.
func TestVerifyAllFindsRot(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("firmware"), 4096)
	b, err := c.Put(bytes.NewReader(content), MaxBinarySize)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(content)
	bad[100] ^= 1
	if err := os.WriteFile(b.File, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	// The disk rotted it: its fileID is the one recorded when it was hashed.
	st, err := os.Stat(b.File)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.verified[b.File] = idOf(st)
	c.mu.Unlock()
	if n, err := c.VerifyAll(nil, 0); err != nil || n != 1 {
		t.Errorf("VerifyAll: %d corrupt, %v; want 1", n, err)
	}
	if _, err := os.Stat(b.File); !os.IsNotExist(err) {
		t.Errorf("rotten file not removed: %v", err)
	}
}
