package artifact

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// put stores data in c as the content of a made-up Git blob and returns
// its Blob and Key.
func put(t *testing.T, c *Cache, data string) (Blob, Key) {
	t.Helper()
	b, err := c.Put(strings.NewReader(data), MaxBinarySize)
	if err != nil {
		t.Fatal(err)
	}
	k := GitBlobKey(plumbing.ComputeHash(plumbing.BlobObject, []byte(data)))
	c.Remember(k, b)
	return b, k
}

func TestCollect(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	keepB, keepK := put(t, c, "\xe9kept image")
	goneB, goneK := put(t, c, "\xe9collected image, a little longer")
	// A GitHub asset with the same content as a Git blob shares its file.
	assetK := AssetKey("acme/fw", 7, time.Unix(1700000000, 0))
	c.Remember(assetK, goneB)
	if st := c.Stats(); st.Files != 2 || st.Bytes != keepB.Size+goneB.Size || st.Known != 3 {
		t.Fatalf("before: got %+v, want 2 files of %d bytes, 3 known", st, keepB.Size+goneB.Size)
	}

	col, err := c.Collect(map[string]bool{keepB.SHA256: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := col, (Collection{Files: 1, Bytes: goneB.Size, Index: 2, KeptFiles: 1, KeptBytes: keepB.Size}); got != want {
		t.Errorf("collection: got %+v, want %+v", got, want)
	}
	if _, err := os.Stat(goneB.File); !os.IsNotExist(err) {
		t.Errorf("collected file: stat error %v, want not exist", err)
	}
	if _, ok := c.Lookup(goneK, goneB.Size); ok {
		t.Error("collected blob still found")
	}
	if _, ok := c.Lookup(assetK, -1); ok {
		t.Error("collected asset still found")
	}
	if b, ok := c.Lookup(keepK, keepB.Size); !ok || b.SHA256 != keepB.SHA256 {
		t.Errorf("kept blob: got %+v %v", b, ok)
	}
	index, _ := os.ReadDir(filepath.Join(dir, "blobs"))
	if len(index) != 1 {
		t.Errorf("index entries left: got %d, want 1", len(index))
	}
	st := c.Stats()
	if st.Files != 1 || st.Bytes != keepB.Size || st.Collected != 1 || st.CollectedBytes != goneB.Size || st.LastGCAt.IsZero() {
		t.Errorf("after: got %+v", st)
	}

	// A restart does not bring the collected content back, and a new
	// cache counts what is on disk.
	c2, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c2.Lookup(goneK, goneB.Size); ok {
		t.Error("collected blob found after reopening")
	}
	if st := c2.Stats(); st.Files != 1 || st.Bytes != keepB.Size {
		t.Errorf("reopened: got %+v", st)
	}

	// Storing the content again brings it back under the same name.
	again, _ := put(t, c2, "\xe9collected image, a little longer")
	if again.File != goneB.File || again.SHA256 != goneB.SHA256 {
		t.Errorf("stored again: got %+v, want %+v", again, goneB)
	}
	if b, ok := c2.Lookup(goneK, goneB.Size); !ok || b.MD5 != goneB.MD5 {
		t.Errorf("stored again: lookup got %+v %v", b, ok)
	}
	if st := c2.Stats(); st.Files != 2 {
		t.Errorf("stored again: got %d files, want 2", st.Files)
	}
}

func TestCollectRemovesOrphans(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, k := put(t, c, "\xe9image")
	// An index entry whose file an operator deleted, and a damaged one.
	if err := os.Remove(b.File); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(dir, "blobs", strings.Repeat("ab", 20))
	if err := os.WriteFile(damaged, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	col, err := c.Collect(map[string]bool{b.SHA256: true})
	if err != nil {
		t.Fatal(err)
	}
	if col.Index != 2 || col.Files != 0 {
		t.Errorf("got %+v, want 2 index entries and no file removed", col)
	}
	if _, ok := c.Lookup(k, b.Size); ok {
		t.Error("blob without a file found")
	}
}

// blockingReader hands out its data, then blocks until release is closed.
type blockingReader struct {
	data    *bytes.Reader
	reading chan struct{} // closed on the first read
	release chan struct{}
	once    bool
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if r.data.Len() > 0 {
		return r.data.Read(p)
	}
	if !r.once {
		r.once = true
		close(r.reading)
	}
	<-r.release
	return 0, io.EOF
}

func TestRemoveLeftoversSparesPutsUnderWay(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	// What a process killed during a Put leaves behind.
	left := filepath.Join(dir, "tmp", "put-123456")
	if err := os.WriteFile(left, []byte("half an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "tmp", "notes")
	if err := os.WriteFile(other, []byte("not ours"), 0o644); err != nil {
		t.Fatal(err)
	}

	r := &blockingReader{data: bytes.NewReader([]byte("\xe9slow download")), reading: make(chan struct{}), release: make(chan struct{})}
	type result struct {
		b   Blob
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := c.Put(r, MaxBinarySize)
		done <- result{b, err}
	}()
	<-r.reading // the Put has its temporary file and is writing it

	files, n, err := c.RemoveLeftovers()
	if err != nil {
		t.Fatal(err)
	}
	if files != 1 || n != int64(len("half an image")) {
		t.Errorf("removed %d files of %d bytes, want 1 of %d", files, n, len("half an image"))
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("leftover: stat error %v, want not exist", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file that is not a Put's was removed: %v", err)
	}
	close(r.release)
	res := <-done
	if res.err != nil {
		t.Fatalf("the Put under way failed: %v", res.err)
	}
	if got, err := os.ReadFile(res.b.File); err != nil || string(got) != "\xe9slow download" {
		t.Errorf("the Put under way stored %q, %v", got, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(entries) != 1 {
		t.Errorf("tmp holds %d files after the Put, want 1 (notes)", len(entries))
	}
}

// BenchmarkCollectNothing is what a collection costs after a publish that
// frees nothing: 1,000 artifacts, all kept.
func BenchmarkCollectNothing(b *testing.B) {
	c, err := OpenCache(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	keep := map[string]bool{}
	for i := range 1000 {
		data := fmt.Sprintf("\xe9image %d", i)
		blob, err := c.Put(strings.NewReader(data), MaxBinarySize)
		if err != nil {
			b.Fatal(err)
		}
		c.Remember(GitBlobKey(plumbing.ComputeHash(plumbing.BlobObject, []byte(data))), blob)
		keep[blob.SHA256] = true
	}
	b.ResetTimer()
	for b.Loop() {
		if col, err := c.Collect(keep); err != nil || col.KeptFiles != 1000 {
			b.Fatalf("%+v %v", col, err)
		}
	}
}
