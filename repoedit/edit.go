package repoedit

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/atomicfile"
	"github.com/otagit/otagit/internal/tomlpos"
	"github.com/otagit/otagit/rollout"
	"github.com/otagit/otagit/worktree"
)

// BinaryPath returns where a release's binary goes in a config repository:
// firmware/<platform>/<platform>-<version>.bin.
func BinaryPath(platform string, v *semver.Version) string {
	return path.Join("firmware", platform, platform+"-"+v.String()+".bin")
}

// PlatformPath returns the file of a platform: platforms/<name>.toml.
func PlatformPath(platform string) string {
	return path.Join(config.PlatformsDir, platform+".toml")
}

// appendBlock returns old with block (lines ending in "\n") appended after
// a blank line, in old's own line endings, keeping old byte for byte.
func appendBlock(old []byte, block string) []byte {
	nl := "\n"
	if bytes.Contains(old, []byte("\r\n")) {
		nl = "\r\n"
		block = strings.ReplaceAll(block, "\n", nl)
	}
	var sep string
	switch {
	case len(old) == 0, bytes.HasSuffix(old, []byte(nl+nl)):
	case bytes.HasSuffix(old, []byte("\n")):
		sep = nl
	default:
		sep = nl + nl
	}
	return append(slices.Clip(old), sep+block...)
}

// releaseBlock is the [[release]] table of version v with binary bin.
func releaseBlock(v *semver.Version, bin string) string {
	return "[[release]]\nversion = " + tomlpos.QuoteString(v.String()) + "\nfile = " + tomlpos.QuoteString(bin) + "\n"
}

// Device is a whitelist entry that an Edit writes.
type Device struct {
	MAC      rollout.MAC
	Platform string
	// Name, when set, is the name clients that name devices in their URL
	// (FUOTA, ESPHome) use.
	Name string
	// Pin, when set, pins the device to exactly this version.
	Pin *semver.Version
	// Comment, when set, is written as a comment line above the table
	// (one line; say where the entry came from).
	Comment string
}

// deviceBlock is the [[device]] table of d.
func deviceBlock(d Device) string {
	var b strings.Builder
	if d.Comment != "" {
		b.WriteString("# " + strings.Join(strings.Fields(d.Comment), " ") + "\n")
	}
	b.WriteString("[[device]]\nmac = " + tomlpos.QuoteString(d.MAC.String()) + "\nplatform = " + tomlpos.QuoteString(d.Platform) + "\n")
	if d.Name != "" {
		b.WriteString("name = " + tomlpos.QuoteString(d.Name) + "\n")
	}
	if d.Pin != nil {
		b.WriteString("pin = " + tomlpos.QuoteString(d.Pin.String()) + "\n")
	}
	return b.String()
}

// Edit is a set of additions to a config work tree (new platforms,
// releases, whitelist entries) that is checked with the one loader as a
// whole and then staged, or undone as a whole. Files are only ever created
// or appended to: what a file held before is kept byte for byte.
type Edit struct {
	dir   string
	saved map[string]*savedFile // by slash path in dir
	order []string
	made  []string // directories created, in creation order
}

type savedFile struct {
	data   []byte // nil: the file did not exist
	mode   fs.FileMode
	binary bool // a copied binary: removed, never rewritten, on rollback
}

// NewEdit starts an edit of the config work tree in dir.
func NewEdit(dir string) *Edit { return &Edit{dir: dir, saved: map[string]*savedFile{}} }

func (e *Edit) file(rel string) string { return filepath.Join(e.dir, filepath.FromSlash(rel)) }

// Files returns the files the edit created or changed, in the order it
// first touched them.
func (e *Edit) Files() []string { return slices.Clone(e.order) }

// read returns rel's current content (nil if it does not exist),
// remembering its first content for Rollback.
func (e *Edit) read(rel string) ([]byte, fs.FileMode, error) {
	data, err := os.ReadFile(e.file(rel))
	mode := fs.FileMode(0o644)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		data = nil
	case err != nil:
		return nil, 0, err
	default:
		st, err := os.Stat(e.file(rel))
		if err != nil {
			return nil, 0, err
		}
		mode = st.Mode().Perm()
		if data == nil {
			data = []byte{}
		}
	}
	if _, ok := e.saved[rel]; !ok {
		e.saved[rel] = &savedFile{data: data, mode: mode}
		e.order = append(e.order, rel)
	}
	return data, mode, nil
}

func (e *Edit) write(rel string, data []byte, mode fs.FileMode) error {
	if err := e.mkdirs(filepath.Dir(e.file(rel))); err != nil {
		return err
	}
	return atomicfile.Write(e.file(rel), data, mode)
}

// mkdirs creates dir and its missing parents, remembering which it made.
func (e *Edit) mkdirs(dir string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	slices.Reverse(missing) // in creation order
	e.made = append(e.made, missing...)
	return nil
}

// copied reports whether the edit wrote the binary bin (it was not there
// already with the same content).
func (e *Edit) copied(bin string) bool {
	s, ok := e.saved[bin]
	return ok && s.binary
}

// AddPlatform writes platforms/<name>.toml for a new platform of chip
// with the given description (none if ""). The file must not exist.
func (e *Edit) AddPlatform(name string, chip espimage.Chip, description string) error {
	if !config.ValidPlatformName(name) {
		return fmt.Errorf("platform name %q: use 1-64 lower-case letters, digits and '-', starting with a letter or digit", name)
	}
	rel := PlatformPath(name)
	old, _, err := e.read(rel)
	if err != nil {
		return err
	}
	if old != nil {
		return fmt.Errorf("%s exists already", rel)
	}
	text := "chip = " + tomlpos.QuoteString(string(chip)) + "\n"
	if description != "" {
		text += "description = " + tomlpos.QuoteString(strings.Join(strings.Fields(description), " ")) + "\n"
	}
	return e.write(rel, []byte(text), 0o644)
}

// AddRelease copies data, the binary of platform's version v, to
// BinaryPath (keeping a file already there with the same content, refusing
// one with other content) and appends its [[release]] to the platform's
// file, which must exist (AddPlatform). It returns the binary's path.
func (e *Edit) AddRelease(platform string, v *semver.Version, data []byte) (string, error) {
	bin := BinaryPath(platform, v)
	switch old, err := os.ReadFile(e.file(bin)); {
	case err == nil && bytes.Equal(old, data):
		// Already in place, e.g. `otagit add firmware/lamp/lamp-1.2.0.bin`.
	case err == nil:
		return "", fmt.Errorf("%s already exists with other content; refusing to overwrite it", bin)
	case !errors.Is(err, fs.ErrNotExist):
		return "", err
	default:
		if _, ok := e.saved[bin]; !ok {
			e.saved[bin] = &savedFile{binary: true}
			e.order = append(e.order, bin)
		}
		if err := e.write(bin, data, 0o644); err != nil {
			return "", err
		}
	}
	rel := PlatformPath(platform)
	old, mode, err := e.read(rel)
	if err != nil {
		return "", err
	}
	if old == nil {
		return "", fmt.Errorf("%s does not exist", rel)
	}
	return bin, e.write(rel, appendBlock(old, releaseBlock(v, bin)), mode)
}

// AddDevices appends a [[device]] table per device to the whitelist file
// (a slash path under devices/), creating it if needed.
func (e *Edit) AddDevices(file string, devs []Device) error {
	if len(devs) == 0 {
		return nil
	}
	if !strings.HasPrefix(file, config.DevicesDir+"/") || !strings.HasSuffix(file, ".toml") {
		return fmt.Errorf("%s: a whitelist file is devices/<name>.toml", file)
	}
	old, mode, err := e.read(file)
	if err != nil {
		return err
	}
	var b strings.Builder
	for i, d := range devs {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(deviceBlock(d))
	}
	return e.write(file, appendBlock(old, b.String()), mode)
}

// Finish checks the work tree with the edit's files staged, as the commit
// made from it would hold them (package worktree), with the one loader.
// When that has errors, Finish undoes the edit and returns a *ConfigError;
// otherwise it stages the edit's files in the Git repository holding the
// work tree, if there is one (staged says so), and returns the loader's
// problems (warnings only).
func (e *Edit) Finish() (probs config.Problems, staged bool, err error) {
	if len(e.order) == 0 {
		return nil, false, nil
	}
	tree, err := worktree.Open(e.dir)
	if err != nil {
		return nil, false, e.undo(err)
	}
	fleet, probs := config.Load(tree.Staging(e.order...), artifact.ReadInspector{})
	if fleet == nil {
		return probs, false, e.undo(&ConfigError{probs.Errors(), fmt.Sprintf("the import would make %s invalid (above); nothing was changed", e.dir)})
	}
	if staged, err = stage(e.dir, e.order); err != nil {
		return probs, false, fmt.Errorf("the files are written but not staged: %w", err)
	}
	return probs, staged, nil
}

// undo rolls the edit back after err, and returns err (with the rollback's
// failure, if any).
func (e *Edit) undo(err error) error {
	if rerr := e.Rollback(); rerr != nil {
		return fmt.Errorf("%w (and undoing the edit failed: %v)", err, rerr)
	}
	return err
}

// Rollback undoes every change of the edit: files get their first content
// back, created files and directories are removed.
func (e *Edit) Rollback() error {
	var errs []error
	for _, rel := range slices.Backward(e.order) {
		s := e.saved[rel]
		if s.binary || s.data == nil {
			if err := os.Remove(e.file(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		errs = append(errs, atomicfile.Write(e.file(rel), s.data, s.mode))
	}
	for _, d := range slices.Backward(e.made) {
		errs = append(errs, os.Remove(d))
	}
	e.saved, e.order, e.made = map[string]*savedFile{}, nil, nil
	return errors.Join(errs...)
}
