package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/imagesig"
	"github.com/otagit/otagit/rollout"
)

// imageFinding is one thing checkImage found about a release's binary.
type imageFinding struct {
	Warning bool
	Message string
}

// checkImage checks the binary at path (already known to exist and be
// non-empty) against its release, from what espimage.Scan read in it:
//
//   - an error when it is not an ESP application image: no image header
//     (or a filesystem image given as the application), a damaged one
//     (truncated, a broken gzip stream), an image that loads only into RAM
//     (a bootloader), or an image for another chip than platform p's; a
//     compressed or signed image's header is read inside it;
//   - an error when p's devices cannot flash the image's encoding (the
//     ESP8266 inflates gzip only; no ESP8266 takes esp32FOTA's signature);
//     a warning when only some of them can (a compressed or signed image
//     on an ESP32-family platform: esp32FOTA, not HTTPUpdate);
//   - a warning when the header is an ESP32-family one whose chip id otagit
//     does not know, so the chip cannot be checked;
//   - a warning when the binary does not confirm that it is p's firmware at
//     version (see confirmRelease).
//
// version is the release's version, nil when it could not be read (an
// error reported on its own key); the release is then not confirmed.
func (l *loader) checkImage(path string, b artifact.Blob, pl *platform, version *semver.Version) []imageFinding {
	p := pl.Platform
	if !espimage.Chip(p.Chip).Known() {
		return nil // reported on the platform's chip key already
	}
	img := &b.Image
	inside := ""
	switch {
	case img.Encoding != espimage.Raw:
		inside = " inside " + img.Encoding.String()
	case img.SignatureLen > 0:
		inside = fmt.Sprintf(" after its %d-byte signature", img.SignatureLen)
	}
	var out []imageFinding
	info, err := img.Info()
	unknownID := errors.Is(err, espimage.ErrUnknownChipID)
	switch {
	case err != nil && img.Filesystem != espimage.NoFilesystem && img.Encoding == espimage.Raw:
		return []imageFinding{{Message: fmt.Sprintf("is a %s filesystem image, not an application: give it as filesystem = %q", fsName(img.Filesystem), path)}}
	case errors.Is(err, espimage.ErrBadMagic) && inside == "":
		return []imageFinding{{Message: fmt.Sprintf("is not an ESP application image: first byte is 0x%02X, want 0xE9", b.Head[0])}}
	case img.Problem != "":
		return []imageFinding{{Message: "is a damaged image: " + img.Problem}}
	case err != nil && !unknownID:
		return []imageFinding{{Message: fmt.Sprintf("not a valid ESP application image%s: %v", inside, err)}}
	case !info.Fits(espimage.Chip(p.Chip)):
		return []imageFinding{{Message: fmt.Sprintf("built for %s, but platform %s is %s", info.ChipName(), p.Name, p.Chip)}}
	case img.Kind == espimage.KindRAMOnly:
		return []imageFinding{{Message: "is not an application image: none of its segments loads into flash, so it is a bootloader or an image that runs from RAM; OTA updates install applications"}}
	}
	if unknownID {
		// A chip newer than this otagit: the device's bootloader will judge
		// the header, so do not refuse the release.
		out = append(out, imageFinding{Warning: true, Message: fmt.Sprintf(
			"chip id 0x%04x in the image header is unknown to otagit, so it cannot check that the image is for %s", info.ChipID, p.Chip)})
	}
	fotaSigned := pl.signing != nil && pl.signing.format == imagesig.ESP32FOTA
	if f, ok := encodingFinding(img, p, fotaSigned); ok {
		if !f.Warning {
			return []imageFinding{f}
		}
		out = append(out, f)
	}
	if version == nil {
		return out
	}
	if msg := l.confirmRelease(path, b, info, p.Name, version); msg != "" {
		out = append(out, imageFinding{Warning: true, Message: msg})
	}
	return out
}

// encodingFinding says whether the devices of platform p can flash an
// image held as img holds it. fotaSigned is set when p requires esp32FOTA
// signatures: its devices are esp32FOTA ones then.
func encodingFinding(img *espimage.File, p *rollout.Platform, fotaSigned bool) (imageFinding, bool) {
	esp8266 := p.Chip == string(espimage.ESP8266)
	switch {
	case esp8266 && img.Encoding == espimage.Zlib:
		return imageFinding{Message: "is zlib-compressed: ESP8266 devices inflate gzip images only (gzip -9, or gzip = true on the platform)"}, true
	case esp8266 && img.SignatureLen > 0:
		return imageFinding{Message: fmt.Sprintf("starts with a %d-byte signature, as esp32FOTA signed images do: ESP8266 devices cannot flash it (their signed images carry the signature at the end)", img.SignatureLen)}, true
	case !esp8266 && img.Encoding != espimage.Raw:
		return imageFinding{Warning: true, Message: fmt.Sprintf("is %s-compressed: only esp32FOTA devices (with %s support, from a URL holding %q) can flash it; HTTPUpdate devices fail on it (its first byte is not 0xE9)",
			img.Encoding, map[espimage.Encoding]string{espimage.Gzip: "ESP32-targz", espimage.Zlib: "flashz"}[img.Encoding],
			map[espimage.Encoding]string{espimage.Gzip: "gz", espimage.Zlib: "zz"}[img.Encoding])}, true
	case !esp8266 && img.SignatureLen > 0 && !fotaSigned:
		return imageFinding{Warning: true, Message: fmt.Sprintf("starts with a %d-byte signature: only esp32FOTA devices with signature checks can flash it; HTTPUpdate devices fail on it (its first byte is not 0xE9)", img.SignatureLen)}, true
	}
	return imageFinding{}, false
}

func fsName(f espimage.Filesystem) string {
	switch f {
	case espimage.LittleFS:
		return "LittleFS"
	case espimage.SPIFFS:
		return "SPIFFS"
	case espimage.FAT:
		return "FAT"
	}
	return f.String()
}

// confirmRelease looks for evidence that the binary is platform's firmware
// at version, and returns "" when it finds it, or else a message that says
// which part is not confirmed and what the binary says instead.
//
// Two facts are checked, each on its own:
//
//   - The platform: confirmed when the ESP-IDF app descriptor's project
//     name contains the platform name (case-insensitively), or else when
//     the platform name occurs anywhere in the binary (the seed convention
//     of the Flask server otagit replaces). The binary is consulted even
//     when the descriptor names another project, because Arduino-ESP32
//     sketches all carry the project name "arduino-lib-builder".
//   - The version: when the descriptor's version is a semantic version, it
//     alone decides: a binary whose descriptor says 1.1.0 is the classic
//     "uploaded the old build" mistake even if "v1.2.0" occurs in it.
//     Otherwise (no descriptor, or a version such as Arduino's
//     "esp-idf: v5.1.4 d7b0a45ddb") the first "v1.2.3" in the binary
//     decides, as in the seed convention.
//
// So a descriptor that confirms the version but names another project
// gives a warning about the name only, and only when the binary does not
// contain the platform name either.
func (l *loader) confirmRelease(path string, b artifact.Blob, info espimage.Info, platform string, version *semver.Version) string {
	app := info.App
	descName, descVer := projectNames(app, platform), descriptorVersion(app)
	if descName && descVer != nil && descVer.Equal(version) {
		return "" // the descriptor alone confirms both: no need to read the binary
	}
	seed, err := l.seedConvention(path, b, info, platform)
	if err != nil {
		return fmt.Sprintf("cannot read it to check its platform and version: %v", err)
	}
	nameOK := descName || seed.PlatformFound
	var verOK bool
	if descVer != nil {
		verOK = descVer.Equal(version)
	} else {
		sv := seedVersion(seed)
		verOK = sv != nil && (sv.Equal(version) || sameCore(sv, version))
	}
	if nameOK && verOK {
		return ""
	}
	release := platform + " " + version.String()
	want := "v" + version.String()
	if app == nil {
		what := "no app descriptor"
		if info.AppInvalid {
			what = "an unreadable app descriptor"
		}
		return what + ", and the binary " + seedClause(platform, !nameOK, !verOK, seed.Version, want)
	}
	var says []string
	if !nameOK {
		says = append(says, fmt.Sprintf("project %q", app.ProjectName))
	}
	switch {
	case verOK:
	case descVer != nil:
		says = append(says, "version "+app.Version)
	default:
		says = append(says, fmt.Sprintf("version %q (not a semantic version)", app.Version))
	}
	msg := "descriptor says " + strings.Join(says, " ")
	if !verOK && descVer == nil {
		msg += ", and the binary " + seedClause(platform, false, true, seed.Version, want)
	}
	return msg + "; release is " + release
}

// sameCore reports whether seed, a version found by the seed convention,
// is the MAJOR.MINOR.PATCH of the pre-release v: the convention's
// "v1.2.3" pattern cannot carry a pre-release part, so that is all it can
// confirm.
func sameCore(seed, v *semver.Version) bool {
	return v.Prerelease() != "" && seed.Prerelease() == "" &&
		seed.Major() == v.Major() && seed.Minor() == v.Minor() && seed.Patch() == v.Patch()
}

// seedClause says what the seed convention did not find, as the predicate
// of a sentence whose subject is "the binary". want is the release version
// as the convention writes it ("v1.2.0"); found is the first version the
// binary holds, without "v", or "".
func seedClause(platform string, noName, noVersion bool, found, want string) string {
	other := ""
	if noVersion && found != "" {
		other = fmt.Sprintf("%q", "v"+found)
	}
	switch {
	case noName && noVersion && other == "":
		return fmt.Sprintf("contains neither %q nor %q", platform, want)
	case noName && noVersion:
		return fmt.Sprintf("does not contain %q, and its first version string is %s, not %q", platform, other, want)
	case noName:
		return fmt.Sprintf("does not contain %q", platform)
	case other == "":
		return fmt.Sprintf("does not contain %q", want)
	}
	return fmt.Sprintf("has %s as its first version string, not %q", other, want)
}

// seedConvention scans the whole binary for the platform name and its first
// "v1.2.3", or returns the remembered result of an earlier scan of the same
// content. It reads the artifact file the Inspector stored when there is
// one (the server), else the file in the loader's fsys (a work tree).
func (l *loader) seedConvention(path string, b artifact.Blob, info espimage.Info, platform string) (espimage.SeedMatch, error) {
	key := seedKey{sha256: b.SHA256, platform: platform}
	if b.SHA256 != "" {
		if m, ok := l.opts.Scans.get(key); ok {
			return m, nil
		}
	}
	var f io.ReadCloser
	var err error
	if b.File != "" {
		f, err = os.Open(b.File)
	} else {
		f, err = l.fsys.Open(path)
	}
	if err != nil {
		return espimage.SeedMatch{}, err
	}
	defer f.Close()
	content, err := espimage.Content(io.LimitReader(f, artifact.MaxBinarySize), &b.Image, artifact.MaxImageSize)
	if err != nil {
		return espimage.SeedMatch{}, err
	}
	m, err := SeedScan(content, info, platform)
	if err != nil {
		return espimage.SeedMatch{}, err // not remembered: a read error may pass
	}
	if b.SHA256 != "" {
		l.opts.Scans.put(key, m)
	}
	return m, nil
}

// The ESP-IDF app descriptor sits at these offsets of an image that has one:
// after the 24-byte header and the first segment's 8-byte header.
const (
	appDescStart = 24 + 8
	appDescEnd   = appDescStart + 256
)

// SeedScan reports what the seed convention (espimage.ScanSeedConvention)
// finds in the whole binary read from r, whose header Parse read as info,
// with one difference: the ESP-IDF app descriptor, when there is one, is
// blanked out first. Its text fields would otherwise hold the first
// "v1.2.3" of the binary (the ESP-IDF version, or Arduino-ESP32's project
// version "esp-idf: v5.1.4 d7b0a45ddb"), which says nothing about the
// application's own version; the descriptor is judged on its own instead.
// `otagit add` uses it too, so that it detects what the loader confirms.
func SeedScan(r io.Reader, info espimage.Info, platform string) (espimage.SeedMatch, error) {
	if info.App != nil || info.AppInvalid {
		head := make([]byte, appDescEnd)
		n, err := io.ReadFull(r, head)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return espimage.SeedMatch{}, fmt.Errorf("scan for seed convention: %w", err)
		}
		head = head[:n]
		if n > appDescStart {
			clear(head[appDescStart:])
		}
		r = io.MultiReader(bytes.NewReader(head), r)
	}
	return espimage.ScanSeedConvention(r, platform)
}

// seedKey identifies one seed-convention scan. The release version is not
// part of it: the scan reports the binary's first version whatever the
// release says, so one scan serves a binary named by several releases.
type seedKey struct {
	sha256, platform string
}

// scanMemoLimit bounds each generation of a ScanMemo's maps: 4096
// entries (about 1 MB at most for seed scans, 2 MB for signature checks)
// is far more releases than one config repository holds, so a sync of an
// unchanged commit never re-reads a binary, while a server that runs for
// months, or `otagit plan` walking a long history, does not keep one
// entry for every binary it ever saw.
const scanMemoLimit = 4096

// ScanMemo remembers the loader's scans of whole binaries (the seed
// convention check and signature checks) by content, so that loading a
// commit whose binaries did not change reads none of them again. Whoever
// loads commits repeatedly (the server's sync loop, a plan of two
// commits) keeps one and passes it in LoadOptions. A ScanMemo is safe for
// concurrent use; a nil *ScanMemo remembers nothing.
type ScanMemo struct {
	seeds memo[seedKey, espimage.SeedMatch]
	sigs  memo[sigKey, sigResult]
}

// NewScanMemo returns an empty, bounded ScanMemo.
func NewScanMemo() *ScanMemo {
	return &ScanMemo{seeds: memo[seedKey, espimage.SeedMatch]{limit: scanMemoLimit}, sigs: memo[sigKey, sigResult]{limit: scanMemoLimit}}
}

func (m *ScanMemo) get(k seedKey) (espimage.SeedMatch, bool) {
	if m == nil {
		return espimage.SeedMatch{}, false
	}
	return m.seeds.get(k)
}

func (m *ScanMemo) put(k seedKey, v espimage.SeedMatch) {
	if m != nil {
		m.seeds.put(k, v)
	}
}

func (m *ScanMemo) sig(k sigKey) (sigResult, bool) {
	if m == nil {
		return sigResult{}, false
	}
	return m.sigs.get(k)
}

func (m *ScanMemo) putSig(k sigKey, v sigResult) {
	if m != nil {
		m.sigs.put(k, v)
	}
}

// memo is a bounded map with two generations: when the current one is
// full it becomes the previous one and the older entries are dropped. An
// entry found in the previous generation moves to the current one, so the
// entries every load uses survive for as long as they fit in one
// generation.
type memo[K comparable, V any] struct {
	limit int
	mu    sync.Mutex // guards cur and prev
	cur   map[K]V
	prev  map[K]V
}

func (m *memo[K, V]) get(k K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.cur[k]; ok {
		return v, true
	}
	v, ok := m.prev[k]
	if ok {
		m.putLocked(k, v)
	}
	return v, ok
}

func (m *memo[K, V]) put(k K, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.putLocked(k, v)
}

func (m *memo[K, V]) putLocked(k K, v V) {
	if m.cur == nil || len(m.cur) >= m.limit {
		m.prev, m.cur = m.cur, make(map[K]V)
	}
	m.cur[k] = v
}
