package importer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/repoedit"
	"github.com/otagit/otagit/rollout"
	"github.com/otagit/otagit/worktree"
)

// Kinds are the sources Import reads, by the name --from gives them.
var Kinds = []string{"flask", "fuota", "autoconnect", "dir"}

// Options say what the caller knows that the source does not.
type Options struct {
	// Platform names the platform of every binary (autoconnect, fuota and
	// dir sources); "" takes it from the source (folder, app descriptor).
	Platform string
	// Chip is the chip of platforms that have no binary to read it from
	// (a Flask platform nothing was uploaded to); "" leaves them out.
	Chip espimage.Chip
}

// Found is what a source holds, in otagit's terms, before it is written.
type Found struct {
	// Kind is the source's kind, which also names the whitelist file the
	// devices go to (devices/<kind>.toml).
	Kind string
	// Platforms are platforms to create even without a release (their
	// chip then comes from Options.Chip).
	Platforms []Platform
	// Releases are binaries to add, in order.
	Releases []Release
	// Devices are whitelist entries to add, in order.
	Devices []Device
	// Skipped says what the source holds that is not carried over, and
	// why.
	Skipped []string
	// Notes say what the operator has to do by hand (credentials).
	Notes []string
}

// Platform is a platform of the source.
type Platform struct {
	Name        string
	Description string
}

// Release is a binary of the source.
type Release struct {
	// Platform is the platform's name; "" takes it from Options.Platform
	// or else the app descriptor's project name.
	Platform string
	// Version is nil to read it from the image (config.DetectVersion).
	Version *semver.Version
	// File is the binary's path on disk.
	File string
	// From names the binary in the source, for messages.
	From string
}

// Device is a whitelist entry of the source.
type Device struct {
	// ID is the device's MAC, or (FUOTA) another id it is asked for by,
	// which becomes its name.
	ID string
	// Platform is the device's platform; "" takes the platform of File's
	// release.
	Platform string
	// File, when set, is the binary (a Release's File) the old server gave
	// this device: the device is pinned to it if it is not its
	// platform's newest release.
	File string
	// Running is the version the old server offered File to (FUOTA's
	// app_ver), "" if none.
	Running string
	// From names the entry in the source, for messages.
	From string
}

// Report is what Import did.
type Report struct {
	// Added lists what was added, one line each.
	Added []string
	// Present counts source entries the repository had already.
	Present int
	// Skipped lists what was not carried over, and why.
	Skipped []string
	// Notes say what the operator has to do by hand.
	Notes []string
	// Warnings are the loader's warnings about the result.
	Warnings []config.Problem
	// Files are the files written; Staged says whether they were staged.
	Files  []string
	Staged bool
}

// Read reads the source src of the given kind.
func Read(kind, src string, opts Options) (*Found, error) {
	switch kind {
	case "flask":
		return readFlask(src)
	case "fuota":
		return readFUOTA(src, opts)
	case "autoconnect":
		return readAutoConnect(src, opts)
	case "dir":
		return readDir(src, opts)
	}
	return nil, fmt.Errorf("unknown kind %q (kinds: %s)", kind, strings.Join(Kinds, ", "))
}

// Import reads the source src of the given kind and adds what it holds to
// the config work tree in dir (created if missing): platforms, releases
// (binaries copied to firmware/), and whitelist entries in
// devices/<kind>.toml. What dir has already is kept as it is; running
// Import again adds only what is new. The result is checked with the one
// loader before it is staged, and undone if it has errors
// (*repoedit.ConfigError).
func Import(kind, src, dir string, opts Options) (Report, error) {
	found, err := Read(kind, src, opts)
	if err != nil {
		return Report{}, err
	}
	return Apply(found, dir, opts)
}

// state is an Apply in progress.
type state struct {
	opts  Options
	fleet *rollout.Fleet
	edit  *repoedit.Edit
	rep   *Report
	// chips of the platforms there are or will be; newest release of each.
	chips  map[string]espimage.Chip
	newest map[string]*semver.Version
	// files maps a source binary to the release it became (or was).
	files map[string]fileRelease
	// releases holds "platform version" -> SHA-256 of its binary.
	releases map[string]string
}

type fileRelease struct {
	platform string
	version  *semver.Version
}

// Apply adds found to the config work tree in dir, as Import describes.
func Apply(found *Found, dir string, opts Options) (Report, error) {
	rep := Report{Skipped: append([]string(nil), found.Skipped...), Notes: found.Notes}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return rep, err
	}
	tree, err := worktree.Open(dir)
	if err != nil {
		return rep, err
	}
	// A new config repository (no platforms/ yet) starts from no fleet;
	// any other tree must load before anything is added to it.
	var fleet *rollout.Fleet
	if _, err := os.Stat(filepath.Join(dir, config.PlatformsDir)); err == nil {
		var probs config.Problems
		if fleet, probs = config.Load(tree, artifact.ReadInspector{}); fleet == nil {
			return rep, repoedit.NewConfigError(probs, fmt.Sprintf("%s has errors (above); fix them before importing into it", dir))
		}
	}
	s := &state{opts: opts, fleet: fleet, edit: repoedit.NewEdit(dir), rep: &rep,
		chips: map[string]espimage.Chip{}, newest: map[string]*semver.Version{},
		files: map[string]fileRelease{}, releases: map[string]string{}}
	for _, p := range fleet.Platforms() {
		s.chips[p.Name] = espimage.Chip(p.Chip)
		for _, r := range p.Releases {
			s.seeRelease(p.Name, r.Version, r.Artifact.SHA256)
		}
	}
	for _, r := range found.Releases {
		if err := s.release(r); err != nil {
			return rep, s.fail(err)
		}
	}
	for _, p := range found.Platforms {
		if err := s.platform(p); err != nil {
			return rep, s.fail(err)
		}
	}
	var devs []repoedit.Device
	seen := map[rollout.MAC]string{}
	for _, d := range found.Devices {
		if e, ok := s.device(d, seen); ok {
			devs = append(devs, e)
		}
	}
	if err := s.edit.AddDevices("devices/"+found.Kind+".toml", devs); err != nil {
		return rep, s.fail(err)
	}
	for _, d := range devs {
		line := "device " + d.MAC.String() + " (" + d.Platform
		if d.Name != "" {
			line += ", name " + d.Name
		}
		if d.Pin != nil {
			line += ", pinned to " + d.Pin.String()
		}
		rep.Added = append(rep.Added, line+")")
	}
	probs, staged, err := s.edit.Finish()
	if err != nil {
		var ce *repoedit.ConfigError
		if errors.As(err, &ce) {
			rep.Added = nil
		}
		return rep, err
	}
	rep.Warnings, rep.Files, rep.Staged = probs.Warnings(), s.edit.Files(), staged
	return rep, nil
}

// fail undoes the edit after err.
func (s *state) fail(err error) error {
	s.rep.Added = nil
	if rerr := s.edit.Rollback(); rerr != nil {
		return fmt.Errorf("%w (and undoing the import failed: %v)", err, rerr)
	}
	return err
}

func (s *state) skip(format string, args ...any) {
	s.rep.Skipped = append(s.rep.Skipped, fmt.Sprintf(format, args...))
}

func (s *state) seeRelease(platform string, v *semver.Version, sum string) {
	s.releases[platform+" "+v.String()] = sum
	if n := s.newest[platform]; n == nil || v.GreaterThan(n) {
		s.newest[platform] = v
	}
}

// release adds r, or says why not; the error is a failure to write.
func (s *state) release(r Release) error {
	img, err := espimage.ReadFile(r.File, artifact.MaxBinarySize)
	if err != nil {
		s.skip("%s: %v", r.From, err)
		return nil
	}
	name, how := r.Platform, ""
	if name == "" {
		name, how = s.opts.Platform, "--platform"
	}
	if name == "" {
		if app := img.Info.App; app != nil && config.ValidPlatformName(strings.ToLower(app.ProjectName)) {
			name, how = strings.ToLower(app.ProjectName), fmt.Sprintf("its app descriptor's project name %q", app.ProjectName)
		}
	}
	if name == "" {
		s.skip("%s: cannot tell its platform (no app descriptor naming one); give it with --platform", r.From)
		return nil
	}
	if !config.ValidPlatformName(name) {
		s.skip("%s: platform name %q: otagit platform names are 1-64 lower-case letters, digits and '-' (the devices ask for this name, so renaming it means rebuilding them)", r.From, name)
		return nil
	}
	chip, known := s.chips[name]
	if known && !img.Info.Fits(chip) {
		s.skip("%s: built for %s, but platform %s is %s", r.From, img.Info.ChipName(), name, chip)
		return nil
	}
	if !known && img.Info.Chip == "" {
		s.skip("%s: built for %s: cannot create platform %s for it", r.From, img.Info.ChipName(), name)
		return nil
	}
	v, vfrom := r.Version, ""
	if v == nil {
		if v, vfrom, err = config.DetectVersion(img, name); err != nil {
			s.skip("%s: %v", r.From, err)
			return nil
		}
	}
	sum := sha256.Sum256(img.Data)
	hexSum := hex.EncodeToString(sum[:])
	if have, ok := s.releases[name+" "+v.String()]; ok {
		if have != hexSum {
			s.skip("%s: platform %s has version %s already, with another binary", r.From, name, v)
			return nil
		}
		s.files[r.File] = fileRelease{name, v}
		s.rep.Present++
		return nil
	}
	if !known {
		if err := s.edit.AddPlatform(name, img.Info.Chip, ""); err != nil {
			return err
		}
		s.chips[name] = img.Info.Chip
		line := fmt.Sprintf("platform %s (%s, from the image header of %s", name, img.Info.Chip, r.From)
		if how != "" {
			line += "; name from " + how
		}
		s.rep.Added = append(s.rep.Added, line+")")
	}
	bin, err := s.edit.AddRelease(name, v, img.Data)
	if err != nil {
		return err
	}
	s.seeRelease(name, v, hexSum)
	s.files[r.File] = fileRelease{name, v}
	line := fmt.Sprintf("release %s %s (%s, from %s", name, v, bin, r.From)
	if vfrom != "" {
		line += "; version from " + vfrom
	}
	s.rep.Added = append(s.rep.Added, line+")")
	return nil
}

// platform creates p if it has no platform file yet and got no release.
func (s *state) platform(p Platform) error {
	if !config.ValidPlatformName(p.Name) {
		s.skip("platform %q: otagit platform names are 1-64 lower-case letters, digits and '-' (the devices ask for this name, so renaming it means rebuilding them)", p.Name)
		return nil
	}
	if _, ok := s.chips[p.Name]; ok {
		return nil
	}
	if s.opts.Chip == "" {
		s.skip("platform %s: no binary to read its chip from; give it with --chip (its devices are left out too)", p.Name)
		return nil
	}
	if err := s.edit.AddPlatform(p.Name, s.opts.Chip, p.Description); err != nil {
		return err
	}
	s.chips[p.Name] = s.opts.Chip
	s.rep.Added = append(s.rep.Added, fmt.Sprintf("platform %s (%s, from --chip; no release)", p.Name, s.opts.Chip))
	return nil
}

// device returns the whitelist entry for d, or says why there is none.
func (s *state) device(d Device, seen map[rollout.MAC]string) (repoedit.Device, bool) {
	e := repoedit.Device{Platform: d.Platform, Comment: "imported from " + d.From}
	var fr fileRelease
	if d.File != "" {
		var ok bool
		if fr, ok = s.files[d.File]; !ok {
			s.skip("%s: its binary was not carried over (above)", d.From)
			return e, false
		}
		if e.Platform == "" {
			e.Platform = fr.platform
		}
	}
	if _, ok := s.chips[e.Platform]; !ok {
		s.skip("%s: platform %q was not carried over (above)", d.From, e.Platform)
		return e, false
	}
	mac, err := rollout.ParseMAC(d.ID)
	if err == nil {
		e.MAC = mac
	} else {
		// An id that is no MAC: FUOTA asks for the device by it, which
		// otagit does by name. The whitelist needs a MAC, which FUOTA
		// never sends; a locally administered one derived from the id
		// stands in for it, the same on every run.
		e.Name, e.MAC = d.ID, PlaceholderMAC(d.ID)
		if ex := s.fleet.DeviceNamed(d.ID); ex != nil {
			s.present(d, ex, e.Platform)
			return e, false
		}
	}
	if ex := s.fleet.Device(e.MAC); ex != nil {
		s.present(d, ex, e.Platform)
		return e, false
	}
	if other, dup := seen[e.MAC]; dup {
		s.skip("%s: %s is listed already, for %s", d.From, e.MAC, other)
		return e, false
	}
	seen[e.MAC] = d.From
	if fr.version != nil {
		if n := s.newest[fr.platform]; n != nil && !n.Equal(fr.version) {
			e.Pin = fr.version
		}
		if run, err := rollout.ParseReleaseVersion(d.Running); err == nil && !run.LessThan(fr.version) {
			s.skip("%s: the old server gave it %s %s when it ran %s; otagit offers only newer versions", d.From, fr.platform, fr.version, d.Running)
		}
	}
	return e, true
}

func (s *state) present(d Device, ex *rollout.Device, platform string) {
	if ex.Platform != platform {
		s.skip("%s: device %s is listed already, for platform %s (not %s)", d.From, ex.MAC, ex.Platform, platform)
		return
	}
	s.rep.Present++
}

// PlaceholderMAC returns the MAC that stands in for a device known only by
// id: locally administered and unicast (first byte 0x02), the rest from a
// hash of the id, so the same id always gets the same MAC.
func PlaceholderMAC(id string) rollout.MAC {
	h := sha256.Sum256([]byte("otagit import device id\x00" + id))
	var m rollout.MAC
	m[0] = 0x02
	copy(m[1:], h[:5])
	return m
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// local returns the path of rel inside dir, or an error when rel (a path a
// source database names) would leave dir.
func local(dir, rel string) (string, error) {
	if !filepath.IsLocal(filepath.FromSlash(rel)) {
		return "", fmt.Errorf("%q is not a path inside %s", rel, dir)
	}
	return filepath.Join(dir, filepath.FromSlash(rel)), nil
}
