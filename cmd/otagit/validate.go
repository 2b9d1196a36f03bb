package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/otagit/otagit/gitstore"
)

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", "[DIR]", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return errUsage
	}
	dir := "."
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	if st, err := os.Stat(dir); err != nil {
		return err
	} else if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	fleet, probs := gitstore.Load(os.DirFS(dir), gitstore.ReadInspector{})
	for _, p := range probs {
		fmt.Fprintln(stdout, p.String())
	}
	errs, warns := len(probs.Errors()), len(probs.Warnings())
	if fleet == nil {
		fmt.Fprintf(stdout, "%s: %d errors, %d warnings: this config would be refused\n", dir, errs, warns)
		return exitError{1}
	}
	releases := 0
	for _, p := range fleet.Platforms() {
		releases += len(p.Releases)
	}
	fmt.Fprintf(stdout, "%s: ok: %d platforms, %d releases, %d devices, %d warnings\n",
		dir, len(fleet.Platforms()), releases, len(fleet.Devices()), warns)
	return nil
}
