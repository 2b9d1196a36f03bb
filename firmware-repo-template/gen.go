//go:build ignore

// gen.go writes the template's firmware binaries. Run `go generate` in this
// directory after changing it; TestBinariesUpToDate fails until you do.
package main

import (
	"log"
	"os"
	"path/filepath"

	repotemplate "github.com/otagit/otagit/firmware-repo-template"
)

func main() {
	for _, b := range repotemplate.Binaries {
		img, err := b.Build()
		if err != nil {
			log.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(b.Path), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(b.Path, img, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
