package repoedit

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/internal/atomicfile"
)

// change is the two edits `otagit add` makes to a config work tree, and
// what it takes to undo them.
type change struct {
	dir       string
	bin, toml string // paths in the repository
	copied    bool   // bin was written (it was not already there)
	made      []string
	oldTOML   []byte
	tomlMode  fs.FileMode
	wroteTOML bool
}

func (c *change) file(rel string) string { return filepath.Join(c.dir, filepath.FromSlash(rel)) }

// apply copies the binary to c.bin and appends a [[release]] for it to
// c.toml. The platform file's text is kept byte for byte; the release is
// appended after a blank line, in the file's own line endings.
func (c *change) apply(data []byte, v *semver.Version) error {
	dst := c.file(c.bin)
	switch old, err := os.ReadFile(dst); {
	case err == nil && bytes.Equal(old, data):
		// Already in place, e.g. `otagit add firmware/lamp/lamp-1.2.0.bin`.
	case err == nil:
		return fmt.Errorf("%s already exists with other content; refusing to overwrite it", c.bin)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	default:
		if err := c.mkdirs(filepath.Dir(dst)); err != nil {
			return err
		}
		if err := atomicfile.Write(dst, data, 0o644); err != nil {
			return err
		}
		c.copied = true
	}

	tomlFile := c.file(c.toml)
	st, err := os.Stat(tomlFile)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(tomlFile)
	if err != nil {
		return err
	}
	c.oldTOML, c.tomlMode = old, st.Mode().Perm()
	c.wroteTOML = true
	return atomicfile.Write(tomlFile, appendBlock(old, releaseBlock(v, c.bin)), c.tomlMode)
}

// mkdirs creates dir and its missing parents, remembering which it made.
func (c *change) mkdirs(dir string) error {
	missing, err := makeDirs(dir)
	if err != nil {
		return err
	}
	c.made = missing // deepest first, the order to remove them in
	return nil
}

// makeDirs creates dir and its missing parents and returns the ones it
// made, deepest first: the order to remove them in to undo it.
func makeDirs(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return missing, nil
}

// rollback undoes what apply did.
func (c *change) rollback() error {
	var errs []error
	if c.wroteTOML {
		errs = append(errs, atomicfile.Write(c.file(c.toml), c.oldTOML, c.tomlMode))
	}
	if c.copied {
		errs = append(errs, os.Remove(c.file(c.bin)))
	}
	for _, d := range c.made {
		errs = append(errs, os.Remove(d))
	}
	return errors.Join(errs...)
}
