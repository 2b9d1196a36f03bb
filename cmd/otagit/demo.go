package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/otagit/otagit/access"
	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/server"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	keep := fs.Bool("keep", false, "keep the demo repository and data directory on exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fs, "unexpected argument %q: demo takes no arguments", fs.Arg(0))
	}
	log, err := newLogger(stderr, "text", "info")
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "otagit-demo-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(tmp)
	}
	repoDir := filepath.Join(tmp, "config")
	if err := repotemplate.Write(repoDir); err != nil {
		return err
	}
	if err := gitInitAdd(repoDir); err != nil {
		return err
	}
	if err := commitAll(repoDir, "otagit demo: starter config"); err != nil {
		return err
	}
	secret := access.StaticSecret("demo-secret")
	return server.Run(ctx, server.Config{
		Store: gitstore.Options{
			Remote:  gitstore.Remote{URL: repoDir, Branch: "main"},
			DataDir: filepath.Join(tmp, "data"),
			Poll:    2 * time.Second,
			Logger:  log,
		},
		// The demo's fleet is made up: its one listener is an operator
		// listener, so the dashboard and read API need no token.
		Listeners:     []server.Listener{{Addr: *listen, Operator: true}},
		CheckIns:      true,
		WebhookSecret: secret,
		Logger:        log,
		Ready: func(addrs []string) {
			fmt.Fprint(stdout, demoHelp(addrs[0], repoDir))
		},
	})
}

// demoHelp is what the demo prints: requests to try and how to roll out.
func demoHelp(addr, repoDir string) string {
	base := "http://" + addr
	var b strings.Builder
	fmt.Fprintf(&b, `
otagit demo: serving the starter config repository at
  %[2]s
on %[1]s (polling it every 2 s; Ctrl-C stops the demo).

An ESP8266 smart-lamp on 1.0.0 gets 1.1.0 (200 + the image, saved to lamp.bin):
  curl -sS -D - -o lamp.bin -H 'User-Agent: ESP8266-http-Update' \
    -H 'x-ESP8266-STA-MAC: 18:FE:34:A1:00:01' -H 'x-ESP8266-mode: sketch' \
    '%[1]s/update?dev=smart-lamp&ver=v1.0.0'

The same lamp already on 1.1.0 has nothing to do (304):
  curl -sS -o /dev/null -w '%%{http_code}\n' \
    -H 'x-ESP8266-STA-MAC: 18:FE:34:A1:00:01' -H 'x-ESP8266-version: 1.1.0' \
    '%[1]s/update'

An ESP32 weather station on 2.0.0, platform from its whitelist entry (200):
  curl -sS -D - -o station.bin -H 'User-Agent: ESP32-http-Update' \
    -H 'x-ESP32-STA-MAC: 24:0A:C4:B2:00:01' -H 'x-ESP32-version: 2.0.0' \
    '%[1]s/update'

A device that is not whitelisted (403):
  curl -sS -w '%%{http_code}\n' -H 'x-ESP8266-STA-MAC: 00:11:22:33:44:55' \
    '%[1]s/update?dev=smart-lamp&ver=1.0.0'

What is served, and the last sync:
  curl -sS %[1]s/api/status

Roll out: edit %[2]s/platforms/*.toml, then
  cd %[2]s && git commit -am 'my change'
(served within 2 s; a commit with errors is refused and shows in /api/status).
`, base, repoDir)
	return b.String()
}

// commitAll commits everything staged in the repository at dir.
func commitAll(dir, msg string) error {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return err
	}
	_, err = wt.Commit(msg, &git.CommitOptions{
		Author: &object.Signature{Name: "otagit demo", Email: "demo@otagit.invalid", When: time.Now()},
	})
	return err
}
