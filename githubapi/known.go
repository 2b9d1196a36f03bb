package githubapi

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/otagit/otagit/config"
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
	Tags map[string]knownTag `json:"tags"`
}

// knownTag is a pinned release and when it was read. Files written before
// At existed decode with a zero At, which is then taken as the Unix epoch:
// known, but of unknown age.
type knownTag struct {
	At time.Time `json:"at"`
	config.GitHubRelease
}

type knownList struct {
	At       time.Time              `json:"at"`
	Releases []config.GitHubRelease `json:"releases"`
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
func (k *KnownReleases) list(repo string) ([]config.GitHubRelease, time.Time, bool) {
	if k == nil {
		return nil, time.Time{}, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	l, ok := k.doc.Lists[repo]
	return l.Releases, l.At, ok
}

// putList remembers repo's releases, saving only when they changed.
func (k *KnownReleases) putList(repo string, rels []config.GitHubRelease) {
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

// tag returns the pinned release repo@tag last seen, and when (zero if
// never).
func (k *KnownReleases) tag(repo, tag string) (config.GitHubRelease, time.Time) {
	if k == nil {
		return config.GitHubRelease{}, time.Time{}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	r, ok := k.doc.Tags[repo+"@"+tag]
	if !ok {
		return config.GitHubRelease{}, time.Time{}
	}
	if r.At.IsZero() {
		return r.GitHubRelease, time.Unix(0, 0).UTC()
	}
	return r.GitHubRelease, r.At
}

// putTag remembers the pinned release repo@tag.
func (k *KnownReleases) putTag(repo, tag string, r config.GitHubRelease) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if old, ok := k.doc.Tags[repo+"@"+tag]; ok && reflect.DeepEqual(old.GitHubRelease, r) {
		return
	}
	if k.doc.Tags == nil {
		k.doc.Tags = map[string]knownTag{}
	}
	k.doc.Tags[repo+"@"+tag] = knownTag{At: time.Now().UTC(), GitHubRelease: r}
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
