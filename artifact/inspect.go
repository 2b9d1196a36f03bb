package artifact

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/espimage"
)

// MaxBinarySize bounds one firmware binary. The largest ESP32 flash is
// 128 MiB; no app partition is bigger than that.
const MaxBinarySize = 128 << 20

// MaxImageSize bounds what a compressed binary may inflate to when it is
// examined: nothing a device flashes is larger than its flash.
const MaxImageSize = 128 << 20

// Blob is what the loader learns about one firmware binary.
type Blob struct {
	// Size is the length in bytes.
	Size int64
	// SHA256 and MD5 are lower-case hex digests of the content.
	SHA256, MD5 string
	// Head holds the first espimage.HeaderLen bytes (fewer for a shorter
	// binary), enough to check the image header.
	Head []byte
	// File is the local file holding the content, or "" when the content
	// was only examined, not stored.
	File string
	// Image is what espimage.Scan learned from the whole content, read in
	// the same pass that digests it.
	Image espimage.File
}

// Inspector examines the firmware binaries a config names. An Inspector
// is used by one goroutine at a time.
type Inspector interface {
	// Inspect returns facts about the file name in fsys. An error that
	// matches fs.ErrNotExist means there is no such file.
	Inspect(fsys fs.FS, name string) (Blob, error)
	// Gzip returns the gzip copy of b (a binary Inspect or a release
	// source returned) that a platform with gzip = true serves, made with
	// Compress. open reads b's content when b has no File. An Inspector
	// that stores binaries stores the copy too, and makes it once.
	Gzip(b Blob, open Opener) (Blob, error)
}

// Opener opens a binary's content for reading.
type Opener func() (io.ReadCloser, error)

// ReadInspector is an Inspector that reads every binary in full to hash it
// and stores nothing. It suits one-off checks such as `otagit validate`.
type ReadInspector struct{}

// Inspect reads name from fsys and digests it.
func (ReadInspector) Inspect(fsys fs.FS, name string) (Blob, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return Blob{}, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return Blob{}, err
	} else if !st.Mode().IsRegular() {
		return Blob{}, fmt.Errorf("%s: not a regular file", name)
	}
	d := newDigester(io.Discard)
	if err := d.consume(f, MaxBinarySize); err != nil {
		return Blob{}, fmt.Errorf("read %s: %w", name, err)
	}
	if d.size > MaxBinarySize {
		return Blob{}, fmt.Errorf("%s: larger than %d bytes", name, MaxBinarySize)
	}
	return d.blob(), nil
}

// Gzip compresses b's content and digests the result without storing it.
func (ReadInspector) Gzip(b Blob, open Opener) (Blob, error) {
	rc, err := openBlob(b, open)
	if err != nil {
		return Blob{}, err
	}
	defer rc.Close()
	d := newDigester(io.Discard)
	err = withCompressed(rc, func(r io.Reader) error { return d.consume(r, MaxBinarySize) })
	if err != nil {
		return Blob{}, fmt.Errorf("gzip: %w", err)
	}
	return d.blob(), nil
}

// openBlob opens b's file when it has one, else calls open.
func openBlob(b Blob, open Opener) (io.ReadCloser, error) {
	if b.File != "" {
		return os.Open(b.File)
	}
	if open == nil {
		return nil, errors.New("binary content not available")
	}
	return open()
}

// digester passes bytes through to w while computing what a Blob records.
type digester struct {
	w     io.Writer
	sha   hash.Hash
	md5   hash.Hash
	size  int64
	head  []byte
	image espimage.File
}

// consume reads r to its end, at most limit+1 bytes, through the digester,
// and scans the content as it goes (one read for both). The caller checks
// d.size against limit.
func (d *digester) consume(r io.Reader, limit int64) error {
	img, err := espimage.Scan(io.TeeReader(io.LimitReader(r, limit+1), d), MaxImageSize)
	if err != nil {
		return err
	}
	d.image = img
	return nil
}

func newDigester(w io.Writer) *digester {
	return &digester{w: w, sha: sha256.New(), md5: md5.New()}
}

func (d *digester) Write(p []byte) (int, error) {
	if n := espimage.HeaderLen - len(d.head); n > 0 {
		d.head = append(d.head, p[:min(n, len(p))]...)
	}
	d.sha.Write(p)
	d.md5.Write(p)
	d.size += int64(len(p))
	return d.w.Write(p)
}

func (d *digester) blob() Blob {
	return Blob{
		Size:   d.size,
		SHA256: hex.EncodeToString(d.sha.Sum(nil)),
		MD5:    hex.EncodeToString(d.md5.Sum(nil)),
		Head:   d.head,
		Image:  d.image,
	}
}

// MemoInspector wraps an Inspector and remembers its answers by Git blob
// (TreeFS files), so the binaries shared by two commits, as in a plan of a
// pull request, are read once; and its gzip copies by content. Files of
// other file systems are passed through. It is used by one goroutine at a
// time.
type MemoInspector struct {
	In      Inspector
	seen    map[plumbing.Hash]Blob
	gzipped map[string]Blob
}

// Gzip implements Inspector.
func (m *MemoInspector) Gzip(b Blob, open Opener) (Blob, error) {
	if g, ok := m.gzipped[b.SHA256]; ok {
		return g, nil
	}
	g, err := m.In.Gzip(b, open)
	if err != nil {
		return g, err
	}
	if m.gzipped == nil {
		m.gzipped = map[string]Blob{}
	}
	m.gzipped[b.SHA256] = g
	return g, nil
}

// Inspect implements Inspector.
func (m *MemoInspector) Inspect(fsys fs.FS, name string) (Blob, error) {
	st, err := fs.Stat(fsys, name)
	if err != nil {
		return Blob{}, err
	}
	h, ok := st.Sys().(plumbing.Hash)
	if !ok {
		return m.In.Inspect(fsys, name)
	}
	if b, ok := m.seen[h]; ok {
		return b, nil
	}
	b, err := m.In.Inspect(fsys, name)
	if err != nil {
		return b, err
	}
	if m.seen == nil {
		m.seen = map[plumbing.Hash]Blob{}
	}
	m.seen[h] = b
	return b, nil
}
