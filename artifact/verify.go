package artifact

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// ErrCorrupt means an artifact file's content no longer hashes to its
// name: changed on disk after it was stored. It is never served; the file
// is removed, and Damaged tells the owner of the cache to store it again.
var ErrCorrupt = errors.New("artifact content does not match its digest")

// fileID is what changes when a file's content is rewritten in place:
// its size and times (the change time cannot be set back), and which file
// it is. A file whose fileID is the one recorded when its content was
// last hashed has that content still, barring failing disks, which the
// background check finds.
type fileID struct {
	size         int64
	mtime, ctime time.Time
	dev, ino     uint64
}

// Open opens the artifact file with SHA-256 sum for sending, once its
// content is known to hash to sum: checked in full when the file is not
// the one last checked (see fileID), else at the cost of one fstat. A
// file that does not match is removed and ErrCorrupt returned, so that
// bytes that do not match the digests sent with them are never sent.
func (c *Cache) Open(file, sum string) (*os.File, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	id := idOf(st)
	c.mu.Lock()
	known := c.verified[file] == id
	c.mu.Unlock()
	if known {
		return f, nil
	}
	if err := c.check(f, file, sum, id); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// check hashes f (file, whose fileID is id) in full; on a match it records
// id as checked, else it removes the file and signals Damaged.
func (c *Cache) check(f *os.File, file, sum string, id fileID) error {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return storageErr(fmt.Errorf("check %s: %w", file, err))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		c.mu.Lock()
		delete(c.verified, file)
		c.mu.Unlock()
		if err := os.Remove(file); err == nil {
			c.mu.Lock()
			c.stats.Files--
			c.stats.Bytes -= id.size
			c.mu.Unlock()
		}
		select {
		case c.damaged <- struct{}{}:
		default:
		}
		return fmt.Errorf("%s: %w (content hashes to %s): removed, to be stored again", file, ErrCorrupt, got)
	}
	c.mu.Lock()
	c.verified[file] = id
	c.mu.Unlock()
	return nil
}

// Damaged receives a value when an artifact was found corrupt and
// removed: the owner of the cache stores again the binaries it serves.
func (c *Cache) Damaged() <-chan struct{} { return c.damaged }

// VerifyAll hashes every artifact file in full, those Open would take
// without hashing included (a failing disk changes content but not its
// fileID), reading at most bytesPerSecond (0: no limit), and removes those
// that do not match (signalling Damaged). It returns how many were found
// corrupt; it returns early, with an error, when done is closed.
func (c *Cache) VerifyAll(done <-chan struct{}, bytesPerSecond int64) (corrupt int, err error) {
	files, err := c.artifactFiles()
	if err != nil {
		return 0, err
	}
	for _, af := range files {
		select {
		case <-done:
			return corrupt, errors.New("stopped")
		default:
		}
		err := c.verifyFile(c.Path(af.name), af.name)
		switch {
		case errors.Is(err, ErrCorrupt):
			corrupt++
			continue
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return corrupt, err
		}
		if bytesPerSecond > 0 {
			// Pace the reads: a check must not starve downloads of disk.
			t := time.NewTimer(time.Duration(af.size * int64(time.Second) / bytesPerSecond))
			select {
			case <-done:
				t.Stop()
				return corrupt, errors.New("stopped")
			case <-t.C:
			}
		}
	}
	return corrupt, nil
}

// verifyFile hashes file in full against sum (see check).
func (c *Cache) verifyFile(file, sum string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return c.check(f, file, sum, idOf(st))
}
