package rollout

import (
	"errors"
	"strings"
	"testing"
)

func TestParseReleaseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical String(); "" means an error is wanted
		pre  string
		meta string
	}{
		{in: "1.2.3", want: "1.2.3"},
		{in: "0.0.0", want: "0.0.0"},
		{in: "v1.2.3", want: "1.2.3"},
		{in: "V1.2.3", want: "1.2.3"},
		{in: "10.20.30", want: "10.20.30"},
		{in: "1.2.3-beta.1", want: "1.2.3-beta.1", pre: "beta.1"},
		{in: "v2.0.0-rc.1", want: "2.0.0-rc.1", pre: "rc.1"},
		{in: "1.0.0-alpha-1", want: "1.0.0-alpha-1", pre: "alpha-1"},
		{in: "1.2.3+build.5", want: "1.2.3+build.5", meta: "build.5"},
		{in: "1.2.3-rc.1+sha.abc123", want: "1.2.3-rc.1+sha.abc123", pre: "rc.1", meta: "sha.abc123"},

		{in: ""},
		{in: "v"},
		{in: "V"},
		{in: "1"},
		{in: "1.2"},
		{in: "v1.2"},
		{in: "01.2.3"},
		{in: "1.02.3"},
		{in: "1.2.03"},
		{in: "1.2.3.4"},
		{in: " 1.2.3"},
		{in: "1.2.3 "},
		{in: "vv1.2.3"},
		{in: "v 1.2.3"},
		{in: "version1.2.3"},
		{in: "1.2.3-"},
		{in: "1.2.3+"},
		{in: "1.2.3-beta..1"},
		{in: "1.2.3-01"},
		{in: "1.2.3-beta_1"},
		{in: "1.2.x"},
		{in: "-1.2.3"},
		{in: "abc"},
		{in: "1.2.3-" + strings.Repeat("a", 300)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := ParseReleaseVersion(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParseReleaseVersion(%q): got %v, want an error", tt.in, v)
				}
				if !errors.Is(err, ErrBadVersion) {
					t.Errorf("ParseReleaseVersion(%q): got error %v, want one wrapping ErrBadVersion", tt.in, err)
				}
				if v != nil {
					t.Errorf("ParseReleaseVersion(%q) on error: got %v, want nil", tt.in, v)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseReleaseVersion(%q): got error %v, want %s", tt.in, err, tt.want)
			}
			if got := v.String(); got != tt.want {
				t.Errorf("ParseReleaseVersion(%q): got %s, want %s", tt.in, got, tt.want)
			}
			if got := v.Prerelease(); got != tt.pre {
				t.Errorf("ParseReleaseVersion(%q).Prerelease(): got %q, want %q", tt.in, got, tt.pre)
			}
			if got := v.Metadata(); got != tt.meta {
				t.Errorf("ParseReleaseVersion(%q).Metadata(): got %q, want %q", tt.in, got, tt.meta)
			}
		})
	}
}

func TestParseDeviceVersion(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical String(); "" means an error is wanted
	}{
		{"1.0.2", "1.0.2"},
		{"v1.0.2", "1.0.2"},
		{"V1.0.2", "1.0.2"},
		{"1.2", "1.2.0"},
		{"v1.2", "1.2.0"},
		{"1", "1.0.0"},
		{"v3", "3.0.0"},
		{" 1.0.0 ", "1.0.0"},
		{"\t v1.0.0\r\n", "1.0.0"},
		{"1.2.3-beta.1", "1.2.3-beta.1"},
		{"v1.2-rc1", "1.2.0-rc1"},
		{"1.2.3+build.7", "1.2.3+build.7"},
		{"01.2.3", "1.2.3"},

		{"", ""},
		{"   ", ""},
		{"v", ""},
		{"abc", ""},
		{"vv1.0.0", ""},
		{"1.2.3.4", ""},
		{"1.0.0 beta", ""},
		{"1.2.3-", ""},
		{"1.2.3-beta..1", ""},
		{"firmware 1.0", ""},
		{strings.Repeat("1", 300), ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := ParseDeviceVersion(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParseDeviceVersion(%q): got %v, want an error", tt.in, v)
				}
				if !errors.Is(err, ErrBadVersion) {
					t.Errorf("ParseDeviceVersion(%q): got error %v, want one wrapping ErrBadVersion", tt.in, err)
				}
				if v != nil {
					t.Errorf("ParseDeviceVersion(%q) on error: got %v, want nil", tt.in, v)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDeviceVersion(%q): got error %v, want %s", tt.in, err, tt.want)
			}
			if got := v.String(); got != tt.want {
				t.Errorf("ParseDeviceVersion(%q): got %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}
