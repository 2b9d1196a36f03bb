//go:build faultroot

package gitstore

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testwait"
)

// TestStoreRealDiskFull is fault 6 of issue 12 on a real full disk: the
// data directory on a 4 MiB tmpfs, a 6 MiB binary that does not fit in
// the clone's pack. The fetch fails (it does not hang) as a storage fault,
// not config errors, and the commit is served once the tmpfs grows, with no push.
// It needs root (mount); .ci/run runs it with -tags faultroot.
func TestStoreRealDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	data := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", data).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", data).Run() })

	r := testrepo.New(t)
	files := validFiles(t)
	big, err := espimage.Build(espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "lamp", Version: "1.0.0", Size: 6 << 20})
	if err != nil {
		t.Fatal(err)
	}
	files["fw/lamp-1.0.0.bin"].Data = big
	good := pushFiles(r, files, "a binary larger than the disk")
	s, _, _ := runUntil(t, r, data)
	testwait.For(t, "a storage fault", func() bool { return s.Status().StorageError != "" })
	st := s.Status()
	if st.RejectedCommit != "" || len(st.Problems) != 0 || !strings.Contains(st.StorageError, "no space left") {
		t.Errorf("status: rejected %q, problems %v, storage error %q", st.RejectedCommit, st.Problems, st.StorageError)
	}
	if out, err := exec.Command("mount", "-o", "remount,size=64m", data).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v: %s", err, out)
	}
	testwait.For(t, "the commit served once space returns", func() bool {
		st := s.Status()
		return st.Commit == good && st.StorageError == ""
	})
}
