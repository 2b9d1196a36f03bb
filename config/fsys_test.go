package config

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestIsConfigFile(t *testing.T) {
	for name, want := range map[string]bool{
		"platforms/lamp.toml":        true,
		"platforms/sub/lamp.toml":    false, // platforms are not looked for in subdirectories
		"devices/office.toml":        true,
		"devices/site/a/garden.toml": true,
		"devices/notes.md":           false,
		"lamp.toml":                  false,
		"firmware/lamp.toml":         false,
		"devicesx/office.toml":       false,
	} {
		if got := IsConfigFile(name); got != want {
			t.Errorf("IsConfigFile(%q): got %v, want %v", name, got, want)
		}
	}
}

func TestNotCommittedErrorIsNotExist(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &fs.PathError{Op: "open", Path: "fw/x.bin", Err: &NotCommittedError{Path: "fw/x.bin"}})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v does not match fs.ErrNotExist", err)
	}
	var nc *NotCommittedError
	if !errors.As(err, &nc) || nc.Path != "fw/x.bin" {
		t.Errorf("errors.As: got %+v", nc)
	}
}
