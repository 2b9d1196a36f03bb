package gitstore

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otagit/otagit/internal/testrepo"
)

// TestTreeFSReadsBigDeltifiedFiles reads, through the store's own
// repository, whitelists bigger than go-git's large-object threshold that
// the remote's pack keeps as deltas of one another (as Git packs a big
// fleet's similar files): every byte must be the committed one. go-git's
// streaming reader of big delta objects returned shifted bytes, which
// read as false TOML syntax errors. Files go-git still streams (above
// largeObject; here 256 KiB, the threshold that showed the bug) are read
// right or fail as damaged storage, never with other bytes.
func TestTreeFSReadsBigDeltifiedFiles(t *testing.T) {
	r := testrepo.New(t)
	want := map[string][]byte{}
	for f := range 16 {
		var b strings.Builder
		for i := f * 4000; i < (f+1)*4000; i++ {
			fmt.Fprintf(&b, "\n[[device]]\nmac = \"24:0A:C4:%02X:%02X:%02X\"\nplatform = \"lamp\"\nname = \"load %d\"\n", (i>>16)&0xFF, (i>>8)&0xFF, i&0xFF, i)
		}
		name := fmt.Sprintf("devices/load-%d.toml", f)
		want[name] = []byte(b.String())
		r.Write(name, want[name])
	}
	head := r.CommitPush("big similar whitelists")
	// Git, not go-git, packs the remote, with deltas between the files.
	if out, err := exec.Command("git", "-C", r.Bare, "repack", "-adf", "--window=50").CombinedOutput(); err != nil {
		t.Skipf("git repack: %v: %s", err, out)
	}
	for _, streamed := range []bool{false, true} {
		t.Run(fmt.Sprintf("streamed=%v", streamed), func(t *testing.T) {
			if streamed {
				defer func(old int64) { largeObject = old }(largeObject)
				largeObject = 256 << 10
			}
			readAll(t, r.Bare, head, want, streamed)
		})
	}
}

// readAll fetches head from remote into a new store repository and reads
// want's files through a TreeFS.
func readAll(t *testing.T, remote, head string, want map[string][]byte, mayFail bool) {
	repo, err := openRepo(filepath.Join(t.TempDir(), "repo.git"), Remote{URL: remote})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := fetch(ctx, repo, Remote{URL: remote})
	if err != nil {
		t.Fatal(err)
	}
	if h.String() != head {
		t.Fatalf("fetched %s, want %s", h, head)
	}
	c, err := repo.CommitObject(h)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := c.Tree()
	if err != nil {
		t.Fatal(err)
	}
	tfs := NewTreeFS(tree, c.Committer.When)
	for name, w := range want {
		got, err := fs.ReadFile(tfs, name)
		if err != nil {
			if !mayFail || !strings.Contains(err.Error(), "does not match blob") {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if !bytes.Equal(got, w) {
			i := 0
			for i < len(got) && i < len(w) && got[i] == w[i] {
				i++
			}
			t.Errorf("%s: %d bytes read, %d committed, first difference at byte %d", name, len(got), len(w), i)
		}
	}
}
