//go:build !unix

package gitstore

import "os/exec"

// ownProcessGroup leaves cmd as it is: killing it kills the process only.
func ownProcessGroup(*exec.Cmd) {}
