package artifact

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
)

// Compress writes the gzip stream of r's content to w, the one way otagit
// compresses images for platforms with gzip = true: a single gzip member
// at the best compression, with no file name and no time in its header,
// so the same image always gives the same bytes (and the same x-MD5). The
// ESP8266 Arduino core (2.7.0 and later) inflates it while flashing.
func Compress(w io.Writer, r io.Reader) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	zw.OS = 255 // unknown: the header says nothing about this machine
	if _, err := io.Copy(zw, r); err != nil {
		return err
	}
	return zw.Close()
}

// withCompressed calls fn with a reader of the compressed content of src,
// compressing on a goroutine that it owns: it returns only once that
// goroutine has finished, whether fn read everything or gave up early.
func withCompressed(src io.Reader, fn func(io.Reader) error) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := Compress(pw, src)
		pw.CloseWithError(err)
		done <- err
	}()
	err := fn(pr)
	pr.CloseWithError(io.ErrClosedPipe) // stops the compressor if fn returned early
	if cerr := <-done; err == nil && cerr != nil && cerr != io.ErrClosedPipe {
		err = cerr
	}
	return err
}

// Gzip implements Inspector: the gzip copy of b is stored like any
// artifact and remembered by b's SHA-256, so it is made once, also across
// restarts.
func (c *Cache) Gzip(b Blob, open Opener) (Blob, error) {
	key := gzipKey(b.SHA256)
	if g, ok := c.Lookup(key, -1); ok {
		return g, nil
	}
	rc, err := openBlob(b, open)
	if err != nil {
		return Blob{}, err
	}
	defer rc.Close()
	var g Blob
	err = withCompressed(rc, func(r io.Reader) error {
		var err error
		g, err = c.Put(r, MaxBinarySize)
		return err
	})
	if err != nil {
		return Blob{}, fmt.Errorf("gzip: %w", err)
	}
	c.Remember(key, g)
	return g, nil
}

// gzipKey identifies the gzip copy of the content with SHA-256 sum.
func gzipKey(sum string) Key { return Key{kind: gzipCopy, id: sum} }

// Gzip implements Inspector: a copy the cache made before costs no work;
// others are made and digested, not stored.
func (p peekInspector) Gzip(b Blob, open Opener) (Blob, error) {
	if g, ok := p.c.Lookup(gzipKey(b.SHA256), -1); ok {
		return g, nil
	}
	return ReadInspector{}.Gzip(b, open)
}

// contentName is a safe file name for an index key that is not a Git blob.
func contentName(kind keyKind, id string) string {
	sum := sha256.Sum256([]byte(string(kind) + ":" + id))
	return hex.EncodeToString(sum[:])
}
