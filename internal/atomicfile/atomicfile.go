// Package atomicfile writes files so that a crash leaves the old content
// or the new, never half of it.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes data to name with permissions perm through a temporary
// file in the same directory, synced and renamed over name.
func Write(name string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".otagit-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
