//go:build !linux

package artifact

import "io/fs"

func idOf(st fs.FileInfo) fileID { return fileID{size: st.Size(), mtime: st.ModTime()} }
