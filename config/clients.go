package config

import (
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/rollout"
)

// clientWarnings warns about a release that a device client other than
// the stock updaters cannot be offered as written, at the release's
// table t.
func clientWarnings(t *table, p *rollout.Platform, r *rollout.Release) {
	if _, plain := rollout.PlainVersion(r.Version); !plain && espimage.Chip(p.Chip).ESP32Family() {
		t.warnf("version", "esp32FOTA reads a pre-release version (%s) as 0.0.0, so /fota/ manifests never offer it; devices on /update get it as usual", r.Version)
	}
	if p.Anonymous && len(r.Groups) > 0 {
		t.warnf("groups", "platform %s serves anonymous devices (anonymous = true), which are in no group: they never get %s", p.Name, r.Version)
	}
}
