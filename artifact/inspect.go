package artifact

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/otagit/otagit/espimage"
)

// MaxBinarySize bounds one firmware binary. The largest ESP32 flash is
// 128 MiB; no app partition is bigger than that.
const MaxBinarySize = 128 << 20

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
}

// Inspector examines the firmware binaries a config names. An Inspector
// is used by one goroutine at a time.
type Inspector interface {
	// Inspect returns facts about the file name in fsys. An error that
	// matches fs.ErrNotExist means there is no such file.
	Inspect(fsys fs.FS, name string) (Blob, error)
}

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
	if _, err := io.Copy(d, io.LimitReader(f, MaxBinarySize+1)); err != nil {
		return Blob{}, fmt.Errorf("read %s: %w", name, err)
	}
	if d.size > MaxBinarySize {
		return Blob{}, fmt.Errorf("%s: larger than %d bytes", name, MaxBinarySize)
	}
	return d.blob(), nil
}

// digester passes bytes through to w while computing what a Blob records.
type digester struct {
	w    io.Writer
	sha  hash.Hash
	md5  hash.Hash
	size int64
	head []byte
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
	}
}

// MemoInspector wraps an Inspector and remembers its answers by Git blob
// (TreeFS files), so the binaries shared by two commits, as in a plan of a
// pull request, are read once. Files of other file systems are passed
// through. It is used by one goroutine at a time.
type MemoInspector struct {
	In   Inspector
	seen map[plumbing.Hash]Blob
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
