package importer

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// AutoConnect's updateserver.py serves the folder given with --catalog:
// its _catalog lists the files, and AutoConnectUpdate offers those of
// type "bin", the .bin files whose first byte is the image magic 0xE9.
// Nothing records a platform or version: a file's platform is the name
// of its folder (the catalog folder for the files in it, a subfolder for
// the files in that), or --platform; its version comes from the image
// (ESP-IDF app descriptor, or the "v1.2.3" the Flask seed convention puts
// in the binary).

// readAutoConnect reads the catalog folder src.
func readAutoConnect(src string, opts Options) (*Found, error) {
	found := &Found{Kind: "autoconnect"}
	abs, err := filepath.Abs(src)
	if err != nil {
		return nil, err
	}
	top := strings.ToLower(filepath.Base(abs))
	entries, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			autoConnectFile(found, filepath.Join(src, e.Name()), e.Name(), firstNonEmpty(opts.Platform, top))
			continue
		}
		sub, err := os.ReadDir(filepath.Join(src, e.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range sub {
			rel := e.Name() + "/" + f.Name()
			if f.IsDir() {
				found.Skipped = append(found.Skipped, rel+"/: a folder two levels down: its platform is not clear; import it on its own with --platform")
				continue
			}
			autoConnectFile(found, filepath.Join(src, e.Name(), f.Name()), rel, firstNonEmpty(opts.Platform, strings.ToLower(e.Name())))
		}
	}
	return found, nil
}

// autoConnectFile adds the file at path (rel in the catalog) as a release
// of platform if it is what AutoConnectUpdate would offer.
func autoConnectFile(found *Found, path, rel, platform string) {
	if !strings.EqualFold(filepath.Ext(rel), ".bin") {
		found.Skipped = append(found.Skipped, rel+": not a .bin file (AutoConnectUpdate offers only .bin)")
		return
	}
	magic, err := firstByte(path)
	if err != nil {
		found.Skipped = append(found.Skipped, fmt.Sprintf("%s: %v", rel, err))
		return
	}
	if magic != 0xE9 {
		found.Skipped = append(found.Skipped, fmt.Sprintf("%s: first byte 0x%02X, not 0xE9: not an application image", rel, magic))
		return
	}
	found.Releases = append(found.Releases, Release{Platform: platform, File: path, From: rel})
}

func firstByte(path string) (byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var b [1]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return 0, fmt.Errorf("empty or unreadable: %w", err)
	}
	return b[0], nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
