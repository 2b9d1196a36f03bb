package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/internal/testrepo"
)

// TestValidateSymlinkSameAsServer is fault 9: `otagit validate` followed
// symbolic links, so it said ok to a commit the server refused (a commit
// holds the link, not what it points to). The real CLI on the work tree
// and the server's loader on the pushed commit must give one verdict.
func TestValidateSymlinkSameAsServer(t *testing.T) {
	for _, c := range []struct {
		name, path string
		ok         bool
	}{
		{"binary", "firmware/smart-lamp/smart-lamp-1.1.0.bin", false},
		{"platform file", "platforms/smart-lamp.toml", false},
		{"platforms directory", "platforms", false},
		{"nothing linked", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := testrepo.New(t)
			if err := repotemplate.Write(r.Work); err != nil {
				t.Fatal(err)
			}
			if c.path != "" {
				// The real thing moves out of the tree; a link to it stays.
				p := filepath.Join(r.Work, filepath.FromSlash(c.path))
				outside := filepath.Join(t.TempDir(), filepath.Base(p))
				if err := os.Rename(p, outside); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(outside, p); err != nil {
					t.Fatal(err)
				}
			}
			head := r.CommitPush("link " + c.name)

			code, out, errs := runCLI(t, "validate", r.Work)
			_, probs, err := gitstore.LoadCommit(r.OpenBare(), plumbing.NewHash(head),
				config.LoadOptions{Inspector: artifact.ReadInspector{}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			serverOK := len(probs.Errors()) == 0
			if validateOK := code == 0; validateOK != serverOK || serverOK != c.ok {
				t.Errorf("validate exit %d (ok %v), server ok %v, want ok %v\nvalidate: %s%s\nserver: %v",
					code, validateOK, serverOK, c.ok, out, errs, probs)
			}
		})
	}
}
