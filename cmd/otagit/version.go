package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/otagit/otagit/internal/buildinfo"
)

// runVersion prints the version and the VCS revision of this binary.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "", stderr)
	asJSON := fs.Bool("json", false, "print the build info as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fs, "version takes no arguments")
	}
	in := buildinfo.Get()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(in)
	}
	fmt.Fprintf(stdout, "otagit %s (%s)\n", in, in.GoVersion)
	return nil
}
