package importer

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/rollout"
)

// A plain folder served by a web server such as nginx (where seed 000
// started): <platform>-<version>.bin files, and the per-device setup of
// <mac>.bin with <mac>.version beside it holding the version the device
// compares its own with.

// maxVersionFile bounds a .version file: it holds one version.
const maxVersionFile = 256

// readDir reads the folder src.
func readDir(src string, opts Options) (*Found, error) {
	found := &Found{Kind: "dir"}
	entries, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(src, name)
		switch {
		case e.IsDir():
			found.Skipped = append(found.Skipped, name+"/: a folder (a dir import reads one folder)")
		case strings.HasSuffix(name, ".version"):
			if !names[strings.TrimSuffix(name, ".version")+".bin"] {
				found.Skipped = append(found.Skipped, name+": no .bin beside it")
			}
		case !strings.HasSuffix(name, ".bin"):
			found.Skipped = append(found.Skipped, name+": not a .bin file")
		default:
			base := strings.TrimSuffix(name, ".bin")
			if _, err := rollout.ParseMAC(base); err == nil {
				macFile(found, src, base, opts)
				continue
			}
			platform, v, ok := ParseBinaryName(name)
			if !ok {
				found.Skipped = append(found.Skipped, name+": neither <platform>-<version>.bin nor <mac>.bin")
				continue
			}
			if opts.Platform != "" && opts.Platform != platform {
				found.Skipped = append(found.Skipped, fmt.Sprintf("%s: platform %s, not --platform %s", name, platform, opts.Platform))
				continue
			}
			found.Releases = append(found.Releases, Release{Platform: platform, Version: v, File: path, From: name})
		}
	}
	if len(found.Releases) > 0 && len(found.Devices) == 0 {
		found.Notes = append(found.Notes, "a plain folder has no whitelist: list the devices in devices/*.toml")
	}
	return found, nil
}

// macFile adds <mac>.bin with the version in <mac>.version: a release of
// its platform that the device is pinned to unless it is the newest.
func macFile(found *Found, src, mac string, opts Options) {
	bin := filepath.Join(src, mac+".bin")
	data, err := readBounded(filepath.Join(src, mac+".version"), maxVersionFile)
	if err != nil {
		found.Skipped = append(found.Skipped, fmt.Sprintf("%s.bin: its version: %v", mac, err))
		return
	}
	v, err := ParseVersionFile(data)
	if err != nil {
		found.Skipped = append(found.Skipped, fmt.Sprintf("%s.version: %v", mac, err))
		return
	}
	found.Releases = append(found.Releases, Release{Platform: opts.Platform, Version: v, File: bin, From: mac + ".bin"})
	found.Devices = append(found.Devices, Device{ID: mac, File: bin, From: mac + ".bin"})
}

// ParseVersionFile reads a .version file: one version, a leading "v"
// allowed, surrounded by white space. A bare build number ("1244", as the
// classic ESP8266 self-update sketch writes) reads as 1244.0.0.
func ParseVersionFile(data []byte) (*semver.Version, error) {
	if len(data) > maxVersionFile {
		return nil, fmt.Errorf("larger than %d bytes: not a version file", maxVersionFile)
	}
	s := string(bytes.TrimSpace(data))
	if !utf8.ValidString(s) || s == "" || strings.ContainsAny(s, " \t\r\n") {
		return nil, fmt.Errorf("%q is not one version", s)
	}
	if strings.Trim(s, "0123456789") == "" && len(s) <= 9 {
		s += ".0.0" // a build number: its order is kept as the major version
	}
	v, err := rollout.ParseReleaseVersion(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a semantic version", s)
	}
	return v, nil
}

// ParseBinaryName reads a <platform>-<version>.bin file name: the platform
// is the shortest prefix, before a '-', that is a platform name and is
// followed by a semantic version ("smart-lamp-1.2.0.bin" is smart-lamp
// 1.2.0, "lamp-v2.0.0-rc.1.bin" is lamp 2.0.0-rc.1).
func ParseBinaryName(name string) (platform string, v *semver.Version, ok bool) {
	base, found := strings.CutSuffix(name, ".bin")
	if !found {
		return "", nil, false
	}
	for i := 0; i < len(base); i++ {
		if base[i] != '-' {
			continue
		}
		p, rest := base[:i], base[i+1:]
		if !config.ValidPlatformName(p) || rest == "" || (rest[0] != 'v' && (rest[0] < '0' || rest[0] > '9')) {
			continue
		}
		if v, err := rollout.ParseReleaseVersion(rest); err == nil {
			return p, v, true
		}
	}
	return "", nil, false
}
