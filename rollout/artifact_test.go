package rollout

import (
	"strings"
	"testing"
)

func TestArtifactSketchMD5(t *testing.T) {
	const served, flashed = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	tests := []struct {
		name string
		a    Artifact
		md5  string // reported
		want bool
	}{
		{"raw image: MD5", Artifact{MD5: served}, served, true},
		{"raw image: upper case", Artifact{MD5: served}, strings.ToUpper(served), true},
		{"raw image: other", Artifact{MD5: served}, flashed, false},
		{"nothing reported", Artifact{MD5: served}, "", false},
		{"gzip image: flashed MD5", Artifact{MD5: served, FlashedMD5: flashed, Encoding: Gzip}, flashed, true},
		{"gzip image: served MD5 is no device's", Artifact{MD5: served, FlashedMD5: flashed, Encoding: Gzip}, served, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.RunBy(tt.md5); got != tt.want {
				t.Errorf("RunBy(%q) = %v, want %v (SketchMD5 %q)", tt.md5, got, tt.want, tt.a.SketchMD5())
			}
		})
	}
}

func TestArtifactSaved(t *testing.T) {
	for _, tt := range []struct {
		a    Artifact
		want int64
	}{
		{Artifact{Size: 100, ImageSize: 100}, 0},
		{Artifact{Size: 60, ImageSize: 100, Encoding: Gzip}, 40},
		{Artifact{Size: 60, ImageSize: 0, Encoding: Zlib}, 0}, // unknown image size
	} {
		if got := tt.a.Saved(); got != tt.want {
			t.Errorf("%+v: Saved() = %d, want %d", tt.a, got, tt.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Mode
		ok   bool
	}{
		{"", ModeSketch, true},
		{"sketch", ModeSketch, true},
		{"spiffs", ModeFilesystem, true},
		{"SPIFFS", ModeFilesystem, true},
		{"version", ModeVersion, true},
		{"littlefs", ModeSketch, false},
	} {
		got, ok := ParseMode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseMode(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// fsFleet is testFleet with a filesystem image on lamp 1.9.0.
func fsFleet(t *testing.T) *Fleet {
	t.Helper()
	f := testFleet(t)
	r := f.Platform("lamp").Release(mustVersion(t, "1.9.0"))
	r.Filesystem = &Artifact{SHA256: strings.Repeat("a", 64), Size: 4096}
	return f
}

func TestDecideFilesystem(t *testing.T) {
	fsSHA := strings.Repeat("a", 64)
	tests := []struct {
		name    string
		req     Request
		want    Outcome
		why     Why
		release string
		served  bool // Served is the release's filesystem image
		reason  string
	}{
		{
			name: "offered release has a filesystem",
			req:  Request{MAC: macLamp1, Version: "1.2.0", Mode: ModeFilesystem},
			want: Update, why: WhyNewer, release: "1.9.0", served: true,
		},
		{
			name: "taken already",
			req:  Request{MAC: macLamp1, Version: "1.2.0", Mode: ModeFilesystem, FilesystemTaken: fsSHA},
			want: UpToDate, why: WhyFilesystemTaken, release: "1.9.0",
			reason: "already took the filesystem image of 1.9.0",
		},
		{
			name: "another filesystem taken",
			req:  Request{MAC: macLamp1, Version: "1.2.0", Mode: ModeFilesystem, FilesystemTaken: strings.Repeat("b", 64)},
			want: Update, why: WhyNewer, release: "1.9.0", served: true,
		},
		{
			name: "up to date: nothing, whatever it took",
			req:  Request{MAC: macLamp1, Version: "1.9.0", Mode: ModeFilesystem},
			want: UpToDate, why: WhyLatest, release: "1.9.0",
		},
		{
			name: "device checks apply first",
			req:  Request{MAC: macLamp1, Version: "1.2.0", Mode: ModeFilesystem, FreeSpace: 10},
			want: UpToDate, why: WhyNoSpace, release: "1.9.0",
		},
		{
			name: "refusals keep their outcome",
			req:  Request{MAC: macNone, Version: "1.2.0", Mode: ModeFilesystem},
			want: NotWhitelisted, why: WhyNotWhitelisted,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fsFleet(t)
			d := Decide(f, tt.req, nil)
			if d.Outcome != tt.want || d.Why != tt.why {
				t.Fatalf("Decide = %v/%v, want %v/%v (%s)", d.Outcome, d.Why, tt.want, tt.why, d.Reason())
			}
			if got := relVersion(d.Release); got != tt.release {
				t.Errorf("Release = %q, want %q", got, tt.release)
			}
			if s := d.Served(); tt.served != (s != nil && s == d.Release.Filesystem) {
				t.Errorf("Served() = %+v, want the filesystem image: %v", s, tt.served)
			}
			if tt.reason != "" && d.Reason() != tt.reason {
				t.Errorf("Reason() = %q, want %q", d.Reason(), tt.reason)
			}
		})
	}

	t.Run("release without filesystem", func(t *testing.T) {
		d := Decide(testFleet(t), Request{MAC: macLamp1, Version: "1.2.0", Mode: ModeFilesystem}, nil)
		if d.Outcome != UpToDate || d.Why != WhyNoFilesystem || d.Reason() != "1.9.0 has no filesystem image" {
			t.Errorf("Decide = %v/%v %q, want up to date: 1.9.0 has no filesystem image", d.Outcome, d.Why, d.Reason())
		}
	})
	t.Run("sketch request of the same device gets the app", func(t *testing.T) {
		f := fsFleet(t)
		d := Decide(f, Request{MAC: macLamp1, Version: "1.2.0", FilesystemTaken: fsSHA}, nil)
		if d.Outcome != Update || d.Served() != &d.Release.Artifact {
			t.Errorf("Decide = %v, Served %+v; want the app of 1.9.0", d.Outcome, d.Served())
		}
	})
}

func TestRunVersion(t *testing.T) {
	f := testFleet(t)
	md5 := "0123456789abcdef0123456789abcdef"
	f.Platform("lamp").Release(mustVersion(t, "1.9.0")).Artifact.MD5 = md5
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"update offered", Request{MAC: macLamp1, Version: "1.2.0"}, "1.9.0"},
		{"written as the device writes", Request{MAC: macLamp1, Version: "v1.2.0"}, "v1.9.0"},
		{"runs the newest", Request{MAC: macLamp1, Version: "v1.9.0"}, "v1.9.0"},
		{"held back: stays", Request{MAC: macLamp1, Version: "1.2", FreeSpace: 10}, "1.2"},
		{"runs it by MD5", Request{MAC: macLamp1, Version: "1.2.0", SketchMD5: md5}, "1.9.0"},
		{"not whitelisted", Request{MAC: macNone, Version: "1.2.0"}, ""},
		{"bad version", Request{MAC: macLamp1, Version: "x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Mode = ModeVersion
			d := Decide(f, tt.req, nil)
			if got := d.RunVersion(); got != tt.want {
				t.Errorf("RunVersion() = %q, want %q (%s)", got, tt.want, d.Reason())
			}
			if d.Served() != nil {
				t.Errorf("Served() = %+v, want nil: a version request gets no body", d.Served())
			}
		})
	}
}

func relVersion(r *Release) string {
	if r == nil {
		return ""
	}
	return r.Version.String()
}
