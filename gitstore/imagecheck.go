package gitstore

import (
	"errors"
	"fmt"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/rollout"
)

// imageFinding is one thing checkImage found about a release's binary.
type imageFinding struct {
	Warning bool
	Message string
}

// checkImage checks that the binary at path (already known to exist, be
// non-empty and start with an accepted magic byte) is an application image
// for platform p's chip. version is the release's version, nil when it
// could not be read.
func (l *loader) checkImage(path string, b Blob, p *rollout.Platform, version *semver.Version) []imageFinding {
	if len(b.Head) > 0 && b.Head[0] == 0x1F {
		return nil // an ESP8266 gzip image: its header is compressed
	}
	if !espimage.Chip(p.Chip).Known() {
		return nil // reported on the platform's chip key already
	}
	info, err := espimage.Parse(b.Head)
	if err != nil && !errors.Is(err, espimage.ErrUnknownChipID) {
		return []imageFinding{{Message: fmt.Sprintf("not a valid ESP application image: %v", err)}}
	}
	if info.Chip != "" && string(info.Chip) != p.Chip {
		return []imageFinding{{Message: fmt.Sprintf("built for %s, but platform %s is %s", info.Chip, p.Name, p.Chip)}}
	}
	return nil
}
