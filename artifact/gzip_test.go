package artifact

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/otagit/otagit/espimage"
)

func testImage(t *testing.T) []byte {
	t.Helper()
	img, err := espimage.Build(espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "lamp", Version: "1.0.0", Size: 64 << 10, Arduino: true, Compressible: true})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestCacheGzip(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	img := testImage(t)
	src, _ := put(t, c, string(img))
	if src.Image.Kind != espimage.KindApp || src.Image.FlashedMD5 == "" {
		t.Fatalf("source blob: %+v, want a scanned application", src.Image)
	}

	g, err := c.Gzip(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(g.File)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, img) {
		t.Fatal("the gzip copy does not inflate to the image")
	}
	sum := md5.Sum(got)
	if g.Size != int64(len(got)) || g.MD5 != hex.EncodeToString(sum[:]) || g.Size >= src.Size {
		t.Errorf("copy: size %d, MD5 %s; want the stored file's, smaller than %d", g.Size, g.MD5, src.Size)
	}
	if g.Image.Encoding != espimage.Gzip || g.Image.FlashedMD5 != src.Image.FlashedMD5 || g.Image.Size != src.Size {
		t.Errorf("copy's image: %+v; want gzip of the source (flashed MD5 %s, %d bytes)", g.Image, src.Image.FlashedMD5, src.Size)
	}

	// Made once: the same copy again without compressing, also after a
	// restart, and the same bytes every time.
	again, err := c.Gzip(src, func() (io.ReadCloser, error) { t.Fatal("read the source again"); return nil, nil })
	if err != nil || again.SHA256 != g.SHA256 {
		t.Errorf("second Gzip: %s, %v; want %s", again.SHA256, err, g.SHA256)
	}
	c2, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	reopened, err := c2.Gzip(Blob{SHA256: src.SHA256}, nil)
	if err != nil || reopened.SHA256 != g.SHA256 || reopened.Image.FlashedMD5 != src.Image.FlashedMD5 {
		t.Errorf("after reopening: %s %+v, %v; want %s with its image facts", reopened.SHA256, reopened.Image, err, g.SHA256)
	}
	var buf bytes.Buffer
	if err := Compress(&buf, bytes.NewReader(img)); err != nil || !bytes.Equal(buf.Bytes(), got) {
		t.Errorf("Compress is not deterministic (%v)", err)
	}

	// The reading inspectors make the same copy, without storing it.
	fsys := fstest.MapFS{"fw.bin": {Data: img}}
	rb, err := ReadInspector{}.Inspect(fsys, "fw.bin")
	if err != nil {
		t.Fatal(err)
	}
	rg, err := ReadInspector{}.Gzip(rb, func() (io.ReadCloser, error) { return fsys.Open("fw.bin") })
	if err != nil || rg.SHA256 != g.SHA256 || rg.File != "" {
		t.Errorf("ReadInspector.Gzip: %s file %q, %v; want %s, not stored", rg.SHA256, rg.File, err, g.SHA256)
	}
	if _, err := (ReadInspector{}).Gzip(rb, nil); err == nil {
		t.Error("ReadInspector.Gzip without content: no error")
	}
	pg, err := c.Peek().Gzip(Blob{SHA256: src.SHA256}, nil)
	if err != nil || pg.SHA256 != g.SHA256 {
		t.Errorf("Peek().Gzip: %s, %v; want the stored copy %s", pg.SHA256, err, g.SHA256)
	}
}

func TestIndexKeepsImageFacts(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, k := put(t, c, string(testImage(t)))
	c2, _ := OpenCache(dir)
	got, ok := c2.Lookup(k, -1)
	if !ok || got.Image.FlashedMD5 != b.Image.FlashedMD5 || got.Image.Kind != espimage.KindApp || len(got.Image.Head) == 0 {
		t.Fatalf("after reopening: %+v, %v; want the image facts %+v", got.Image, ok, b.Image)
	}

	// An entry written before the index kept image facts: scanned once
	// when read, and rewritten.
	p := c.indexPath(k)
	os.WriteFile(p, []byte(b.SHA256+" "+b.MD5+" "+itoa(b.Size)+"\n"), 0o644)
	c3, _ := OpenCache(dir)
	got, ok = c3.Lookup(k, -1)
	if !ok || got.Image.FlashedMD5 != b.Image.FlashedMD5 {
		t.Fatalf("legacy entry: %+v, %v; want the image scanned", got.Image, ok)
	}
	raw, _ := os.ReadFile(p)
	if !strings.Contains(string(raw), imageLine) {
		t.Errorf("legacy entry not rewritten: %q", raw)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
