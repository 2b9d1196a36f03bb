// Package chromium drives a headless Chromium for browser tests: it loads
// a page, waits for it to settle, and returns the DOM as the browser built
// it and a screenshot, using only Chromium's command line (no DevTools
// client, no Node toolchain).
package chromium

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// ErrNotFound is returned by Find when no Chromium is installed.
var ErrNotFound = errors.New("chromium: no chromium or chrome binary found")

// Find returns the path of an installed Chromium: $CHROMIUM if set, else
// the first of chromium, chromium-browser, google-chrome on $PATH.
func Find() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNotFound
}

// Browser runs one Chromium binary with a private, empty profile.
type Browser struct {
	// Path is the Chromium binary.
	Path string
	// Profile is the user data directory; each Load uses a fresh one
	// below it, so that no state carries over between pages.
	Profile string
	// Width and Height are the window size; default 1280 by 900.
	Width, Height int
	// Timeout bounds one Load; default 2 minutes, far above what a page
	// takes, so that it only stops a browser that hangs.
	Timeout time.Duration
}

// Page is what Load got from a page.
type Page struct {
	// DOM is the serialised document after load (scripts have run).
	DOM string
	// PNG is the screenshot of the window.
	PNG []byte
}

// flags are what a sandboxed machine without network and without a
// display needs: no GPU, no sandbox (it runs as root in CI), and none of
// the background connections that a closed network refuses.
var flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
	"--force-device-scale-factor=1",
}

// Load opens url, lets its scripts run, and returns its DOM and a
// screenshot. Chromium's diagnostics go into the error when it fails.
func (b *Browser) Load(ctx context.Context, url string) (*Page, error) {
	w, h := b.Width, b.Height
	if w <= 0 {
		w = 1280
	}
	if h <= 0 {
		h = 900
	}
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dir, err := os.MkdirTemp(b.Profile, "load-")
	if err != nil {
		return nil, fmt.Errorf("chromium: %w", err)
	}
	defer os.RemoveAll(dir)
	shot := filepath.Join(dir, "screenshot.png")
	args := append(append([]string(nil), flags...),
		"--user-data-dir="+filepath.Join(dir, "profile"),
		"--window-size="+strconv.Itoa(w)+","+strconv.Itoa(h),
		"--virtual-time-budget=2000", // let timers and fetches settle
		"--screenshot="+shot, "--dump-dom", url)
	cmd := exec.CommandContext(ctx, b.Path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("chromium: load %s: %w\n%s", url, err, tail(stderr.Bytes(), 2000))
	}
	png, err := os.ReadFile(shot)
	if err != nil {
		return nil, fmt.Errorf("chromium: load %s: no screenshot: %w\n%s", url, err, tail(stderr.Bytes(), 2000))
	}
	if stdout.Len() == 0 {
		return nil, fmt.Errorf("chromium: load %s: empty DOM\n%s", url, tail(stderr.Bytes(), 2000))
	}
	return &Page{DOM: stdout.String(), PNG: png}, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
