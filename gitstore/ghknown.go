package gitstore

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/otagit/otagit/internal/atomicfile"
)

// KnownReleases remembers the GitHub releases last read, on disk, so that
// a config that takes firmware from GitHub still loads while GitHub cannot
// be reached: at a restart, and for a commit that pauses or yanks
// something during an outage. Their assets are in the artifact cache. A
// KnownReleases is safe for concurrent use; the zero value and nil
// remember nothing.
type KnownReleases struct {
	path string
	mu   sync.Mutex // guards doc
	doc  knownDoc
}

type knownDoc struct {
	// Lists are the release lists of followed repositories.
	Lists map[string]knownList `json:"lists"`
	// Tags are pinned releases, by "owner/name@tag".
	Tags map[string]GitHubRelease `json:"tags"`
}

type knownList struct {
	At       time.Time       `json:"at"`
	Releases []GitHubRelease `json:"releases"`
}

// OpenKnownReleases loads what was remembered in path (a JSON file, which
// need not exist yet).
func OpenKnownReleases(path string) (*KnownReleases, error) {
	k := &KnownReleases{path: path}
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(raw, &k.doc); err != nil {
			// A damaged file only costs the offline fallback.
			k.doc = knownDoc{}
		}
	}
	return k, nil
}

// list returns the releases of repo last seen, and when.
func (k *KnownReleases) list(repo string) ([]GitHubRelease, time.Time, bool) {
	if k == nil {
		return nil, time.Time{}, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	l, ok := k.doc.Lists[repo]
	return l.Releases, l.At, ok
}

// putList remembers repo's releases, saving only when they changed.
func (k *KnownReleases) putList(repo string, rels []GitHubRelease) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if old, ok := k.doc.Lists[repo]; ok && reflect.DeepEqual(old.Releases, rels) {
		return
	}
	if k.doc.Lists == nil {
		k.doc.Lists = map[string]knownList{}
	}
	k.doc.Lists[repo] = knownList{At: time.Now().UTC(), Releases: rels}
	k.save()
}

// tag returns the pinned release repo@tag last seen.
func (k *KnownReleases) tag(repo, tag string) (GitHubRelease, bool) {
	if k == nil {
		return GitHubRelease{}, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	r, ok := k.doc.Tags[repo+"@"+tag]
	return r, ok
}

// putTag remembers the pinned release repo@tag.
func (k *KnownReleases) putTag(repo, tag string, r GitHubRelease) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if old, ok := k.doc.Tags[repo+"@"+tag]; ok && reflect.DeepEqual(old, r) {
		return
	}
	if k.doc.Tags == nil {
		k.doc.Tags = map[string]GitHubRelease{}
	}
	k.doc.Tags[repo+"@"+tag] = r
	k.save()
}

// save writes the file; k.mu is held. Failing to save only costs the
// offline fallback after a restart.
func (k *KnownReleases) save() {
	if k.path == "" {
		return
	}
	raw, err := json.Marshal(k.doc)
	if err == nil {
		_ = atomicfile.Write(k.path, raw, 0o644)
	}
}
