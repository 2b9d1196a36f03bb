package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/rollout"
)

// artifactOf describes the binary b from src as rollout serves it. The
// flash size comes from the image header (the decompressed one of a
// compressed image); FlashedMD5 is set only when the device will report
// another MD5 than that of the bytes it downloads.
func artifactOf(src rollout.Source, b artifact.Blob) rollout.Artifact {
	a := rollout.Artifact{Source: src, File: b.File, Size: b.Size, SHA256: b.SHA256, MD5: b.MD5,
		Encoding: encodingOf(b.Image.Encoding), ImageSize: b.Image.Size}
	if info, err := b.Image.Info(); err == nil || errors.Is(err, espimage.ErrUnknownChipID) {
		a.FlashSize = info.FlashSize
	}
	if f := b.Image.FlashedMD5; f != "" && f != b.MD5 {
		a.FlashedMD5 = f
	}
	return a
}

func encodingOf(e espimage.Encoding) rollout.Encoding {
	switch e {
	case espimage.Gzip:
		return rollout.Gzip
	case espimage.Zlib:
		return rollout.Zlib
	}
	return rollout.Raw
}

// served returns what platform p serves for the checked application
// binary b described by a: a itself, or with gzip = true on the
// platform the gzip copy of an uncompressed image, made by the Inspector
// (once, when it enters the cache), when it is smaller. open reads b's
// content when b has no file.
func (l *loader) served(p *platform, a rollout.Artifact, b artifact.Blob, open artifact.Opener) (rollout.Artifact, error) {
	if !p.gzip || b.Image.Encoding != espimage.Raw {
		return a, nil
	}
	g, err := l.in.Gzip(b, open)
	if err != nil {
		return a, err
	}
	if g.Size >= b.Size {
		return a, nil // incompressible (already compressed data, say): sending more helps nobody
	}
	c := artifactOf(a.Source, g)
	c.SourceSHA256, c.SourceSize = a.SHA256, a.Size
	if c.FlashedMD5 == "" {
		// The device reports the MD5 of what it flashed: the image, whose
		// bytes are no longer what is sent.
		c.FlashedMD5 = a.SketchMD5()
	}
	return c, nil
}

// opener reads name from the loader's file system.
func (l *loader) opener(name string) artifact.Opener {
	return func() (io.ReadCloser, error) { return l.fsys.Open(name) }
}

// releaseFilesystem reads the filesystem key of a [[release]] into r: a
// filesystem image (SPIFFS, LittleFS or FAT) committed to the repository,
// which devices asking for their filesystem (x-*-mode: spiffs) get while r
// is what they are offered. It reports false when the key is an error.
func (l *loader) releaseFilesystem(t *table, r *rollout.Release) bool {
	if !t.has("filesystem") {
		return true
	}
	name, ok := t.str("filesystem", true)
	if !ok {
		return false
	}
	a, b, err := l.blob(name)
	if err != nil {
		t.errorf("filesystem", "%v", err)
		return false
	}
	img := &b.Image
	switch info, perr := img.Info(); {
	case perr == nil && img.Kind == espimage.KindApp, errors.Is(perr, espimage.ErrUnknownChipID) && img.Kind != espimage.KindRAMOnly:
		what := "an ESP application image"
		if img.Encoding != espimage.Raw {
			what = "a " + img.Encoding.String() + "-compressed ESP application image"
		}
		if info.Chip != "" {
			what += " for " + string(info.Chip)
		}
		t.errorf("filesystem", "binary %q is %s, not a filesystem image: give it as file = %q", a.Source.Path, what, a.Source.Path)
		return false
	case img.Filesystem == espimage.NoFilesystem:
		t.warnf("filesystem", "binary %q is not recognised as a LittleFS, SPIFFS (written with SPIFFS_USE_MAGIC) or FAT image; it is served as it is", a.Source.Path)
	}
	fs := artifactOf(a.Source, b)
	fs.FlashSize, fs.Encoding, fs.ImageSize, fs.FlashedMD5 = 0, rollout.Raw, b.Size, ""
	r.Filesystem = &fs
	return true
}

// blob inspects the binary at name (a path in the repository): it must
// exist and not be empty.
func (l *loader) blob(name string) (rollout.Artifact, artifact.Blob, error) {
	clean := cleanPath(name)
	if !fs.ValidPath(clean) || clean == "." {
		return rollout.Artifact{}, artifact.Blob{}, fmt.Errorf("%q is not a path inside the repository (use a relative path with '/', e.g. \"firmware/lamp-1.0.0.bin\")", name)
	}
	res, done := l.blobs[clean]
	if !done {
		res.blob, res.err = l.in.Inspect(l.fsys, clean)
		l.blobs[clean] = res
	}
	b, err := res.blob, res.err
	switch {
	case errors.Is(err, fs.ErrNotExist):
		var nc *NotCommittedError
		if errors.As(err, &nc) {
			return rollout.Artifact{}, b, fmt.Errorf("binary %q not found in the repository: %w", clean, nc)
		}
		return rollout.Artifact{}, b, fmt.Errorf("binary %q not found in the repository", clean)
	case err != nil:
		return rollout.Artifact{}, b, fmt.Errorf("binary %q: %w", clean, err)
	case b.Size == 0:
		return rollout.Artifact{}, b, fmt.Errorf("binary %q is empty", clean)
	}
	return artifactOf(rollout.Source{Path: clean}, b), b, nil
}
