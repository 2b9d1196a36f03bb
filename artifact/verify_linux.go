//go:build linux

package artifact

import (
	"io/fs"
	"syscall"
	"time"
)

func idOf(st fs.FileInfo) fileID {
	id := fileID{size: st.Size(), mtime: st.ModTime()}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		id.ctime = time.Unix(int64(s.Ctim.Sec), int64(s.Ctim.Nsec))
		id.dev, id.ino = uint64(s.Dev), uint64(s.Ino)
	}
	return id
}
