package gitstore

import (
	"slices"
	"time"
)

// keptSnapshot is a published snapshot whose binaries the artifact cache
// keeps: a rollback to it (a revert, a release un-yanked) needs no Git
// read and no download.
type keptSnapshot struct {
	Commit string `json:"commit"`
	// Artifacts are the SHA-256 digests of its binaries, sorted.
	Artifacts []string `json:"artifacts"`
}

// keep records snap as the newest kept snapshot and forgets those beyond
// KeepSnapshots. A snapshot equal to the newest kept one (the last good
// commit restored at start) replaces it rather than counting twice.
func (s *Store) keep(snap *Snapshot) {
	k := keptSnapshot{Commit: snap.Commit, Artifacts: snap.Artifacts()}
	if n := len(s.kept); n > 0 && s.kept[n-1].Commit == k.Commit && slices.Equal(s.kept[n-1].Artifacts, k.Artifacts) {
		s.kept = s.kept[:n-1]
	}
	s.kept = append(s.kept, k)
	if over := len(s.kept) - s.opts.KeepSnapshots; over > 0 {
		s.kept = slices.Delete(s.kept, 0, over)
	}
}

// collect removes from the artifact cache every binary that no kept
// snapshot references. It runs on the Run goroutine, after a publish,
// so that no load is storing binaries meanwhile.
func (s *Store) collect() {
	keep := map[string]bool{}
	for _, k := range s.kept {
		for _, sum := range k.Artifacts {
			keep[sum] = true
		}
	}
	start := time.Now()
	col, err := s.cache.Collect(keep)
	if err != nil {
		s.log.Warn("artifact collection incomplete", "err", err)
	}
	s.log.Info("artifacts collected", "files", col.Files, "bytes_freed", col.Bytes, "index_entries", col.Index,
		"kept_files", col.KeptFiles, "kept_bytes", col.KeptBytes, "snapshots", len(s.kept), "took", time.Since(start))
}

// removeLeftovers removes the temporary files of cache fills that a
// killed process left behind. It runs at start, before any load.
func (s *Store) removeLeftovers() {
	files, bytes, err := s.cache.RemoveLeftovers()
	if err != nil {
		s.log.Warn("cannot remove artifact cache leftovers", "err", err)
	}
	if files > 0 {
		s.log.Info("removed artifact cache leftovers", "files", files, "bytes_freed", bytes)
	}
}
