// Command otagit is a GitOps over-the-air update server for ESP8266 and
// ESP32 fleets: platforms, device whitelists and firmware releases live in a
// Git repository, and the server answers devices from its current commit.
//
// Usage:
//
//	otagit serve --repo URL|PATH [flags]   run the update server
//	otagit validate [DIR]                  check a config repository
//	otagit add FILE.bin [--platform P] [--version V] [DIR]
//	                                       add a firmware release to a config repository
//	otagit plan --base REV --head REV [--versions FILE | --fleet URL] [DIR]
//	                                       what a change does to every device
//	otagit init DIR                        write a starter config repository
//	otagit demo                            serve a demo repository locally
//	otagit version                         print the version and build commit
//
// Run `otagit <command> -h` for a command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	installTransports()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one otagit subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the update server", runServe},
		{"validate", "check a config repository work tree", runValidate},
		{"add", "add a firmware binary as a release of its platform", runAdd},
		{"import", "import platforms, whitelists and binaries from another update server", runImport},
		{"plan", "show what a change between two commits does to every device", runPlan},
		{"init", "write a starter config repository", runInit},
		{"hash-password", "print the bcrypt hash of a device password, for serve --device-auth", runHashPassword},
		{"demo", "serve a demo config repository on 127.0.0.1:8080", runDemo},
		{"version", "print the otagit version and the commit it was built from", runVersion},
	}
}

// errUsage reports a usage error whose message the flag package already
// printed.
var errUsage = errors.New("usage")

// exitError carries an exit code for failures that have already been
// reported, such as a config with errors.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes the command line args and returns the process exit code:
// 0 success, 1 failure, 2 usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == "help" {
		args = []string{args[1], "-h"} // otagit help serve
	}
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version") {
		args = []string{"version"}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		var ee exitError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		case errors.As(err, &ee):
			return ee.code
		}
		fmt.Fprintf(stderr, "otagit %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(stderr, "otagit: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "otagit: GitOps over-the-air updates for ESP8266 and ESP32 fleets")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: otagit <command> [flags] [args]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'otagit <command> -h' for a command's flags.")
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("otagit "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: otagit %s [flags] %s\n\nFlags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs, mapping parse errors to errUsage. -h
// prints the command's usage; a bad flag is reported in one line (see
// usageError), not followed by every flag the command has.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return err
	case err != nil:
		return usageError(fs, "%v", err)
	}
	return nil
}

// usageError reports a usage mistake in one line and how to get help,
// and returns errUsage (exit status 2).
func usageError(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), "%s: %s\nRun '%s -h' for usage.\n", fs.Name(), fmt.Sprintf(format, args...), fs.Name())
	return errUsage
}
