package plan

import (
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/rollout"
)

func TestReleaseTextSizes(t *testing.T) {
	r := &rollout.Release{Platform: "lamp", Version: semver.MustParse("1.2.0"),
		Artifact:   rollout.Artifact{Source: rollout.Source{Path: "fw/lamp.bin"}, Size: 600, ImageSize: 1000, Encoding: rollout.Gzip},
		Filesystem: &rollout.Artifact{Source: rollout.Source{Path: "fw/fs.bin"}, Size: 4096, ImageSize: 4096}}
	got := describe(r)
	for _, want := range []string{"fw/lamp.bin, 600 bytes (gzip of a 1000-byte image: 400 bytes, 40.0% saved)", "filesystem fw/fs.bin, 4096 bytes"} {
		if !strings.Contains(got, want) {
			t.Errorf("release text %q lacks %q", got, want)
		}
	}
}
