// Command genrepo writes a config repository for load tests: the starter
// template with N whitelisted devices (MACs 24:0A:C4:XX:XX:XX by index) in
// one or more whitelist files, committed with go-git.
//
//	go run ./internal/loadtest/genrepo -devices 100000 -out /tmp/fleet
//	go run ./internal/loadtest/genrepo -devices 1000000 -files 100 -out /tmp/fleet
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	repotemplate "github.com/otagit/otagit/firmware-repo-template"
)

func main() {
	n := flag.Int("devices", 10000, "number of whitelisted devices")
	files := flag.Int("files", 1, "number of whitelist files the devices are spread over (devices/load-NNN.toml)")
	out := flag.String("out", "", "directory to create (must not exist)")
	flag.Parse()
	if *out == "" || *files < 1 {
		log.Fatal("-out is required, -files must be positive")
	}
	if err := repotemplate.Write(*out); err != nil {
		log.Fatal(err)
	}
	per := (*n + *files - 1) / *files
	for f := range *files {
		var b strings.Builder
		b.WriteString("# generated for load tests\n")
		for i := f * per; i < min(*n, (f+1)*per); i++ {
			platform := "weather-station"
			if i%2 == 1 {
				platform = "smart-lamp"
			}
			fmt.Fprintf(&b, "\n[[device]]\nmac = %q\nplatform = %q\nname = \"load %d\"\n", MAC(i), platform, i)
		}
		name := "load.toml"
		if *files > 1 {
			name = fmt.Sprintf("load-%03d.toml", f)
		}
		if err := os.WriteFile(filepath.Join(*out, "devices", name), []byte(b.String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	repo, err := git.PlainInitWithOptions(*out, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		log.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		log.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		log.Fatal(err)
	}
	if _, err := wt.Commit(fmt.Sprintf("%d devices", *n), &git.CommitOptions{
		Author: &object.Signature{Name: "loadtest", Email: "loadtest@otagit.invalid", When: time.Now()},
	}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(*out)
}

// MAC is the MAC of device i.
func MAC(i int) string {
	return fmt.Sprintf("24:0A:C4:%02X:%02X:%02X", (i>>16)&0xFF, (i>>8)&0xFF, i&0xFF)
}
