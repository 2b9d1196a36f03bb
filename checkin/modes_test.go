package checkin

import (
	"testing"
	"time"

	"github.com/otagit/otagit/rollout"
)

// poll decides a request of device i in mode, as the HTTP handler does,
// and observes it; a filesystem Update is sent in full.
func (fx *trackerFixture) poll(i int, mode rollout.Mode, version string) rollout.Decision {
	fx.now = fx.now.Add(time.Minute)
	req := rollout.Request{MAC: mac(i), Version: version, Now: fx.now, Mode: mode}
	if d, ok := fx.tr.Device(mac(i)); ok && d.Filesystem != nil {
		req.FilesystemTaken = d.Filesystem.SHA256
	}
	dec := rollout.Decide(fx.fleet.Load(), req, fx.tr)
	c := CheckIn{MAC: mac(i), At: fx.now, Platform: "lamp", Version: version, FreeSpace: -1, ChipSize: -1,
		Status: 304, Decision: dec.Outcome.String(), Mode: mode.String()}
	if dec.Outcome == rollout.Update {
		c.Status = 200
		switch mode {
		case rollout.ModeSketch:
			c.Offered = dec.Release.Version.String()
		case rollout.ModeFilesystem:
			c.Filesystem = dec.Served().SHA256
		}
	}
	fx.tr.Observe(c, dec)
	return dec
}

func TestTrackerModes(t *testing.T) {
	store := NewMemory()
	fx := newTrackerFixture(t, store)
	fx.r11.HaltOnFailure = 0
	fx.r11.Filesystem = &rollout.Artifact{SHA256: "fs-11"}

	// updateFS() polls with the old version, again and again (the app
	// update fails, or an ATOMIC_FS_UPDATE reboot comes first): the image
	// goes out once, and none of it counts toward a failure.
	if d := fx.poll(0, rollout.ModeFilesystem, "1.0.0"); d.Outcome != rollout.Update || d.Served() != fx.r11.Filesystem {
		t.Fatalf("first filesystem poll: %v %v, want the filesystem of 1.1.0", d.Outcome, d.Reason())
	}
	for range 5 {
		if d := fx.poll(0, rollout.ModeFilesystem, "1.0.0"); d.Outcome != rollout.UpToDate || d.Why != rollout.WhyFilesystemTaken {
			t.Fatalf("filesystem poll again: %v %s, want 304: already took it", d.Outcome, d.Reason())
		}
		fx.poll(0, rollout.ModeVersion, "1.0.0")
	}
	dev, _ := fx.tr.Device(mac(0))
	if dev.Offer != nil || len(dev.Outcomes) != 0 {
		t.Fatalf("filesystem and version polls made an offer or an outcome: %+v %+v", dev.Offer, dev.Outcomes)
	}
	if fs := dev.Filesystem; fs == nil || fs.SHA256 != "fs-11" || fs.Version != "1.1.0" || fs.Platform != "lamp" {
		t.Fatalf("filesystem sent: %+v", dev.Filesystem)
	}

	// Then the app: offered, taken.
	if d := fx.poll(0, rollout.ModeSketch, "1.0.0"); d.Outcome != rollout.Update {
		t.Fatalf("app poll: %v", d.Outcome)
	}
	fx.poll(0, rollout.ModeFilesystem, "1.1.0")
	fx.poll(0, rollout.ModeSketch, "1.1.0")
	if r, ok := fx.latest(0); !ok || r != Success {
		t.Errorf("outcome after updating: %v %v, want success", r, ok)
	}

	// The record survives a restart: saved with the device's summary.
	fx.stopRun()
	fx2 := newTrackerFixture(t, store)
	fx2.r11.Filesystem = &rollout.Artifact{SHA256: "fs-11"}
	if d, ok := fx2.tr.Device(mac(0)); !ok || d.Filesystem == nil || d.Filesystem.SHA256 != "fs-11" {
		t.Fatalf("after restart: %+v", d.Filesystem)
	}
	if d := fx2.poll(0, rollout.ModeFilesystem, "1.0.0"); d.Why != rollout.WhyFilesystemTaken {
		t.Errorf("after restart: %s, want already taken", d.Reason())
	}
	hist, err := store.History(t.Context(), mac(0), 0)
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, c := range hist {
		if c.Filesystem != "" {
			sent++
			if c.Mode != "spiffs" {
				t.Errorf("filesystem sent in a %q check-in", c.Mode)
			}
		}
	}
	if sent != 1 {
		t.Errorf("history holds %d filesystem downloads, want 1", sent)
	}
}

// TestTrackerFlashedMD5 is the Tasmota case: a gzip image whose x-MD5 is
// of the compressed download, while the device reports the MD5 of the
// image it flashed.
func TestTrackerFlashedMD5(t *testing.T) {
	fx := newTrackerFixture(t, NewMemory())
	fx.r11.HaltOnFailure = 0
	fx.r11.Artifact = rollout.Artifact{MD5: "md5-of-gzip", FlashedMD5: "md5-of-image", Encoding: rollout.Gzip}
	fx.checkIn(0, "1.0.0", "")
	// The sketch keeps reporting its hard-coded version: only the MD5
	// tells it updated.
	d := fx.checkIn(0, "1.0.0", "md5-of-image")
	if r, ok := fx.latest(0); !ok || r != Success {
		t.Errorf("outcome: %v %v, want success by the flashed image's MD5", r, ok)
	}
	if d.Outcome != rollout.UpToDate || d.Why != rollout.WhyAlreadyRunning {
		t.Errorf("decision: %v %s, want already running", d.Outcome, d.Reason())
	}
	fx.checkIn(1, "1.0.0", "")
	fx.checkIn(1, "1.0.0", "md5-of-gzip")
	if _, ok := fx.latest(1); ok {
		t.Error("the download's MD5 resolved the offer: no device reports it")
	}
}
