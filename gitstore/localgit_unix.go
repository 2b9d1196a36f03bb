//go:build unix

package gitstore

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup makes cmd lead a process group, and its cancellation
// kill the whole group: a wrapper script's children die with it instead
// of holding its pipes open.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
