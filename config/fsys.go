package config

import (
	"errors"
	"fmt"
	"io/fs"
)

// What LoadTree expects of the fs.FS it reads. Every file system a config
// is loaded from (a commit's tree on the server, a work tree for `otagit
// validate`) gives the same answers for the same commit, so that they
// agree on what is valid.

// ErrNotRegular is the error a config file system returns, in an
// *fs.PathError, for opening a symbolic link or a submodule. A commit
// stores a symbolic link as a link, not as the file it points to, and the
// server does not follow it; a work tree must not follow it either.
var ErrNotRegular = errors.New("not a regular file or directory (symbolic links and submodules are not followed)")

// NotCommittedError is the error a work tree's file system returns, in an
// *fs.PathError, for a file that is on disk but that a commit would not
// contain: Git does not track it, or ignores it. It matches fs.ErrNotExist
// (for the server the file is not there) and says what to do.
type NotCommittedError struct {
	// Path is the file's path in the config.
	Path string
	// Ignored is set when a .gitignore (or another exclude file) ignores
	// the file.
	Ignored bool
}

func (e *NotCommittedError) Error() string {
	if e.Ignored {
		return fmt.Sprintf("it is in the work tree but ignored by .gitignore, so it is not committed: git add -f %s", e.Path)
	}
	return fmt.Sprintf("it is in the work tree but Git does not track it, so it is not committed: git add %s", e.Path)
}

// Is makes a NotCommittedError match fs.ErrNotExist.
func (e *NotCommittedError) Is(target error) bool { return target == fs.ErrNotExist }
