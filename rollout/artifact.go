package rollout

import (
	"fmt"
	"strings"
)

// Artifact describes a firmware binary and where it is served from.
type Artifact struct {
	// Source is where the binary comes from.
	Source Source
	// File is the local file the binary is served from; empty when the
	// binary was only checked, not stored (as by `otagit validate`).
	File string
	// Size is the length in bytes of what is served (the Content-Length).
	Size int64
	// SHA256 and MD5 are lower-case hex digests of what is served; MD5 is
	// the x-MD5 the device's updater checks the download against.
	SHA256 string
	MD5    string
	// FlashSize is the flash size in bytes the image's header requires
	// (read from the decompressed header of a compressed image), 0 when
	// unknown.
	FlashSize int64
	// Encoding says how the served bytes hold the image: Raw, or
	// compressed (the device inflates while flashing).
	Encoding Encoding
	// ImageSize is the size in bytes of the image the device flashes: the
	// decompressed size of a compressed binary, Size otherwise. 0 when
	// unknown.
	ImageSize int64
	// FlashedMD5 is the lower-case hex MD5 a device reports as its sketch
	// MD5 (x-*-sketch-md5) once it runs the image, when that differs from
	// MD5: the device hashes the image as it sits in flash, which is the
	// decompressed image for a compressed binary, and only the image
	// itself (no ESP8266 signature, no padding) for any binary. "" when it
	// is MD5, or unknown. Compare with SketchMD5, not with this field.
	FlashedMD5 string
	// SourceSHA256 and SourceSize describe the binary as committed or
	// downloaded when what is served is a copy the server compressed
	// (platforms with gzip = true); "" and 0 otherwise. The firmware cache
	// keeps both files.
	SourceSHA256 string
	SourceSize   int64
}

// SketchMD5 returns the sketch MD5 a device reports once it runs the
// image: FlashedMD5 when known, MD5 otherwise. It is the one digest that
// tells a device runs this image: Decide's "already running" check and the
// check-in tracker's success detection both compare with it, never with
// MD5 (which, for a compressed or signed image, is of bytes no device
// reports).
func (a *Artifact) SketchMD5() string {
	if a.FlashedMD5 != "" {
		return a.FlashedMD5
	}
	return a.MD5
}

// RunBy reports whether a device that reports sketchMD5 as its sketch MD5
// runs the image. An empty sketchMD5 (not sent) runs nothing.
func (a *Artifact) RunBy(sketchMD5 string) bool {
	return sketchMD5 != "" && strings.EqualFold(sketchMD5, a.SketchMD5())
}

// Saved returns how many bytes fewer are sent than the device flashes
// (ImageSize - Size) for a compressed binary, 0 for any other.
func (a *Artifact) Saved() int64 {
	if a.Encoding == Raw || a.ImageSize <= a.Size {
		return 0
	}
	return a.ImageSize - a.Size
}

// Encoding is how a binary holds the image a device flashes. The zero
// Encoding is Raw.
type Encoding uint8

// The encodings devices can flash.
const (
	// Raw: the binary is the image itself.
	Raw Encoding = iota
	// Gzip: a gzip stream (RFC 1952) of the image, which ESP8266 Arduino
	// cores 2.7.0 and later inflate while flashing, and esp32FOTA with
	// ESP32-targz from a URL containing "gz".
	Gzip
	// Zlib: a zlib stream (RFC 1950) of the image, which esp32FOTA with
	// flashz inflates from a URL containing "zz".
	Zlib
)

var encodingNames = [...]string{Raw: "raw", Gzip: "gzip", Zlib: "zlib"}

// String returns "raw", "gzip" or "zlib", the names used in logs and JSON.
func (e Encoding) String() string {
	if int(e) < len(encodingNames) {
		return encodingNames[e]
	}
	return fmt.Sprintf("encoding(%d)", uint8(e))
}

// MarshalText implements encoding.TextMarshaler with String.
func (e Encoding) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// Mode is what a device asks for: its application image, its filesystem
// image, or only which version it should run. The zero Mode is
// ModeSketch.
type Mode uint8

// The modes of x-ESP8266-mode / x-ESP32-mode.
const (
	// ModeSketch asks for the application image ("sketch", or no mode).
	ModeSketch Mode = iota
	// ModeFilesystem asks for the filesystem image ("spiffs", sent by
	// updateFS() and updateSpiffs() for SPIFFS and LittleFS alike).
	ModeFilesystem
	// ModeVersion asks only which version the device should run
	// ("version", ESP8266 getAvailableVersion(), core 3.2 and later).
	ModeVersion
)

var modeNames = [...]string{ModeSketch: "sketch", ModeFilesystem: "spiffs", ModeVersion: "version"}

// ParseMode reads an x-*-mode header: "sketch" or empty, "spiffs",
// "version" (any case). It reports false for anything else, which the
// caller treats as a sketch request, as the clients' own servers do.
func ParseMode(s string) (Mode, bool) {
	if s == "" {
		return ModeSketch, true
	}
	for m, n := range modeNames {
		if strings.EqualFold(s, n) {
			return Mode(m), true
		}
	}
	return ModeSketch, false
}

// String returns the mode as devices send it: "sketch", "spiffs" or
// "version".
func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// MarshalText implements encoding.TextMarshaler with String.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// SizeText describes the binary's size for people: "1024 bytes", or for a
// compressed one what is sent and saved, "448055 bytes (gzip of a
// 639744-byte image: 191689 bytes, 30.0% saved)".
func (a *Artifact) SizeText() string {
	s := fmt.Sprintf("%d bytes", a.Size)
	if saved := a.Saved(); saved > 0 {
		s += fmt.Sprintf(" (%s of a %d-byte image: %d bytes, %.1f%% saved)", a.Encoding, a.ImageSize, saved, 100*float64(saved)/float64(a.ImageSize))
	}
	return s
}
