package gitstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/rollout"
)

// Snapshot is one valid commit of the config repository, ready to serve.
// A Snapshot is immutable once published and safe for concurrent use.
type Snapshot struct {
	// Commit is the full hex hash of the commit.
	Commit string
	// Subject is the first line of the commit message.
	Subject string
	// Author is the commit author's name.
	Author string
	// SignedBy names the key that signed the commit, "" when commit
	// signatures are not checked.
	SignedBy string
	// CommitTime is the committer's timestamp.
	CommitTime time.Time
	// PublishedAt is when this server started serving the snapshot.
	PublishedAt time.Time
	// Fleet is what the commit declares.
	Fleet *rollout.Fleet
	// Warnings are the commit's findings that did not stop it from serving.
	Warnings config.Problems
	// UsesGitHub is set when releases come from GitHub: the same commit
	// may then serve different releases as GitHub changes.
	UsesGitHub bool
	// Digest identifies what is served: the commit and every release's
	// settings and binary. An unchanged digest needs no republishing.
	Digest string
	// GitHubError is set when GitHub could not be read fully: the fleet
	// lacks what could not be resolved, or uses releases last seen.
	GitHubError string
}

// Artifacts returns the SHA-256 digests of the binaries the snapshot's
// releases need, sorted, each once: the application and filesystem images
// they serve, and the source of an image served as the gzip copy the
// server made, so that a reload finds the copy without reading Git again.
func (s *Snapshot) Artifacts() []string {
	var out []string
	if s.Fleet == nil {
		return out
	}
	for _, p := range s.Fleet.Platforms() {
		for _, r := range p.Releases {
			out = append(out, r.Artifact.SHA256)
			if r.Artifact.SourceSHA256 != "" {
				out = append(out, r.Artifact.SourceSHA256)
			}
			if r.Filesystem != nil {
				out = append(out, r.Filesystem.SHA256)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ShortCommit returns the first 12 hex digits of the commit hash.
func (s *Snapshot) ShortCommit() string { return short(s.Commit) }

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// LoadCommit reads and checks the config at commit hash of repo with
// opts, and dates every release by the commit that introduced it, found
// with hist (nil for a one-off History). It returns a snapshot (with a nil
// Fleet when problems has errors) and every problem found; err is for
// failures to read the commit itself; GitHub trouble is in the snapshot's
// GitHubError and warnings. The
// caller owns repo: go-git repositories are not safe for concurrent use.
func LoadCommit(repo *git.Repository, hash plumbing.Hash, opts config.LoadOptions, hist *History) (snap *Snapshot, problems config.Problems, err error) {
	snap, problems, _, err = loadCommit(repo, hash, opts, hist, false)
	return snap, problems, err
}

// loadCommit is LoadCommit; with record set, it also returns what the
// load read, to make the commit's saved copy from.
func loadCommit(repo *git.Repository, hash plumbing.Hash, opts config.LoadOptions, hist *History, record bool) (*Snapshot, config.Problems, *recorder, error) {
	c, err := repo.CommitObject(hash)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("commit %s: %w", short(hash.String()), damaged(err))
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("commit %s: tree: %w", short(hash.String()), damaged(err))
	}
	var seen faults
	tfs := NewTreeFS(tree, c.Committer.When)
	tfs.faults = &seen
	var files fs.FS = tfs
	var rec *recorder
	if record {
		rec = newRecorder(tfs)
		files = rec
	}
	if hist == nil {
		hist = NewHistory()
	}
	intros := func(fleet *rollout.Fleet) (map[rollout.ReleaseID]Introduction, error) {
		in, err := hist.Introductions(repo, hash, fleet)
		if err != nil {
			return nil, damaged(err)
		}
		if rec != nil {
			rec.intros = in
		}
		return in, nil
	}
	snap, probs, err := load(c, files, &seen, intros, opts)
	return snap, probs, rec, err
}

// load is the one loader of a commit's snapshot, whether its files come
// from the local clone or from the saved copy of the last good commit:
// commit c's config read from files, its releases dated by intros. seen
// collects the storage faults met reading files and storing binaries.
func load(c *object.Commit, files fs.FS, seen *faults, intros func(*rollout.Fleet) (map[rollout.ReleaseID]Introduction, error), opts config.LoadOptions) (*Snapshot, config.Problems, error) {
	hash := c.Hash
	// A file that cannot be read because the clone or the cache's disk
	// failed is not a problem of the config: it is an error, retried.
	if opts.Inspector != nil {
		opts.Inspector = faultInspector{opts.Inspector, seen}
	}
	res := config.LoadTree(files, opts)
	if err := seen.first(); err != nil {
		return nil, nil, fmt.Errorf("commit %s: %w", short(hash.String()), err)
	}
	fleet, probs, ghErr := res.Fleet, res.Problems, res.GitHubErr
	if fleet != nil {
		in, err := intros(fleet)
		if err != nil {
			return nil, nil, fmt.Errorf("commit %s: history: %w", short(hash.String()), err)
		}
		for _, p := range fleet.Platforms() {
			for _, r := range p.Releases {
				if in, ok := in[r.ID()]; ok && !fromGitHub(r) {
					r.IntroducedAt, r.IntroducedIn = in.Time, in.Commit
				}
			}
		}
	}
	subject, _, _ := strings.Cut(c.Message, "\n")
	return &Snapshot{
		Commit:      hash.String(),
		Subject:     subject,
		Author:      c.Author.Name,
		CommitTime:  c.Committer.When,
		Fleet:       fleet,
		Warnings:    probs.Warnings(),
		UsesGitHub:  res.UsesGitHub,
		Digest:      digest(hash.String(), fleet),
		GitHubError: errText(ghErr),
	}, probs, nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// digest identifies the served content of a fleet at a commit.
func digest(commit string, f *rollout.Fleet) string {
	h := sha256.New()
	io.WriteString(h, commit)
	for _, p := range f.Platforms() {
		for _, r := range p.Releases {
			fmt.Fprintf(h, "|%s %s %s %s %s", r.ID(), r.Fingerprint, r.Artifact.SHA256, r.IntroducedIn, r.IntroducedAt.UTC().Format(time.RFC3339Nano))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// faultInspector records the storage faults of the inspector it wraps.
type faultInspector struct {
	in     artifact.Inspector
	faults *faults
}

func (f faultInspector) Inspect(fsys fs.FS, name string) (artifact.Blob, error) {
	b, err := f.in.Inspect(fsys, name)
	return b, f.faults.add(err)
}

func (f faultInspector) Gzip(b artifact.Blob, open artifact.Opener) (artifact.Blob, error) {
	g, err := f.in.Gzip(b, open)
	return g, f.faults.add(err)
}
