package espimage

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Encoding is how a file holds the image a device flashes. The zero
// Encoding is Raw.
type Encoding uint8

// The encodings Scan reads.
const (
	// Raw: the file is the image (after a signature, if any).
	Raw Encoding = iota
	// Gzip: a gzip stream of the image (ESP8266 cores 2.7.0+; esp32FOTA
	// with ESP32-targz).
	Gzip
	// Zlib: a zlib stream of the image (esp32FOTA with flashz).
	Zlib
)

// String returns "raw", "gzip" or "zlib".
func (e Encoding) String() string {
	switch e {
	case Raw:
		return "raw"
	case Gzip:
		return "gzip"
	case Zlib:
		return "zlib"
	}
	return fmt.Sprintf("encoding(%d)", uint8(e))
}

// Kind says what an image is for, from where its segments load.
type Kind uint8

// The kinds of image. The zero Kind is KindUnknown.
const (
	// KindUnknown: Scan could not tell (not an image, an unknown chip,
	// segments it could not walk).
	KindUnknown Kind = iota
	// KindApp: a segment loads into the chip's flash-mapped window, as
	// every application's code or read-only data does: an image an OTA
	// update installs.
	KindApp
	// KindRAMOnly: every segment loads into RAM: a bootloader, or an
	// image run from RAM (esptool's and esp-serial-flasher's RAM apps, a
	// NONOS SDK 0x00000 half whose code is flashed separately). No OTA
	// client can install one as an application.
	KindRAMOnly
)

// String returns "unknown", "app" or "ram-only".
func (k Kind) String() string {
	switch k {
	case KindApp:
		return "app"
	case KindRAMOnly:
		return "ram-only"
	}
	return "unknown"
}

// SignatureLen is the length of the RSA signature esp32FOTA signed images
// start with by default (FW_SIGNATURE_LENGTH, a 4096-bit RSA-SHA256
// signature): the device reads it off the stream and flashes what follows.
const SignatureLen = 512

// SignatureLens are the signature lengths an esp32FOTA signed image may
// start with, most likely first: esp32FOTA's default (RSA-4096), and the
// RSA-3072 and RSA-2048 lengths a sketch sets with setSignatureLen.
var SignatureLens = [...]int{SignatureLen, 384, 256}

// SignedImageOffset returns where the image starts in an esp32FOTA signed
// file whose first bytes are head: after the first of SignatureLens that
// is followed by an image header Parse accepts. It reports false when
// none is. The signature's own first bytes are not looked at: they start
// like an image in one signed file out of 256. Scan and package imagesig
// both find the image with it.
func SignedImageOffset(head []byte) (int, bool) {
	for _, n := range SignatureLens {
		if len(head) > n && head[n] == imageMagic && headerOK(head[n:]) {
			return n, true
		}
	}
	return 0, false
}

// arduinoAppOffset is where the Arduino ESP8266 core's application image
// starts, after the eboot loader (APP_START_OFFSET): elf2bin writes eboot
// padded to 4 KiB, then the application.
const arduinoAppOffset = 0x1000

// fsPrefixLen is how much of a file Scan keeps for DetectFilesystem: the
// second block of the largest block size it tries, and some.
const fsPrefixLen = 64<<10 + 1024

// File is what Scan learns from a whole firmware file.
type File struct {
	// Encoding is how the file holds the image.
	Encoding Encoding
	// SignatureLen is the number of signature bytes before the image
	// (512, 384 or 256 for an esp32FOTA signed image), 0 for none.
	SignatureLen int
	// Head holds the first HeaderLen bytes of the image (decompressed and
	// after the signature), fewer for a shorter one. Info parses it.
	Head []byte
	// Size is the length of the image content in bytes: decompressed, not
	// counting the signature. What a device flashes.
	Size int64
	// Kind says whether the image is an application.
	Kind Kind
	// SketchLen is the length of the sketch as the Arduino cores measure
	// the running one (ESP.getSketchSize()): on the ESP8266 the end of the
	// application image that follows eboot at 0x1000 (so without an
	// appended signature), on ESP32-family chips the image up to its
	// checksum and appended SHA-256 (esp_image_verify's image_len). 0 when
	// the image has no such layout or its segments could not be walked.
	SketchLen int64
	// FlashedMD5 is the lower-case hex MD5 of the first SketchLen bytes:
	// the x-*-sketch-md5 a device reports once it runs this image. "" when
	// SketchLen is 0.
	FlashedMD5 string
	// Filesystem is the filesystem the file holds, as is, when it is one
	// (see DetectFilesystem).
	Filesystem Filesystem
	// Problem says why the content is not a whole, well-formed image
	// (a damaged gzip stream, segments running past the end, content over
	// the size limit); "" when there is nothing wrong, or when the file
	// is not an image at all (Info then says why).
	Problem string
}

// Info parses the image's header (Parse of Head).
func (img *File) Info() (Info, error) { return Parse(img.Head) }

// ErrTooLarge reports content (decompressed, for a compressed file) over
// the limit given to Scan.
var ErrTooLarge = errors.New("espimage: content over the size limit")

// Scan reads a whole firmware file from r, to its end, and reports what it
// holds. It never holds more than a few tens of KiB in memory, and it
// decompresses at most limit bytes: a file that inflates to more (a zip
// bomb) gets a Problem matching ErrTooLarge, and Scan stops inflating it.
// It returns an error only when r fails; what is wrong with the content is
// in the File (Problem, Info).
//
// How the image is found, first match wins:
//
//  1. a file that starts with 0xE9 and a header Parse accepts: the image;
//  2. a gzip (1F 8B 08) or zlib header whose first inflated byte is 0xE9:
//     the compressed image;
//  3. 0xE9 at offset SignatureLen (or 384, or 256: the RSA-3072 and
//     RSA-2048 signature lengths) and a header Parse accepts there: an
//     esp32FOTA signed image, read after its signature;
//  4. a gzip or zlib header: compressed content, judged inflated;
//  5. otherwise the file itself, which Info then refuses.
func Scan(r io.Reader, limit int64) (File, error) {
	src := &sourceReader{r: r}
	br := bufio.NewReaderSize(src, 2*SignatureLen+HeaderLen)
	peek, _ := br.Peek(SignatureLen + HeaderLen)
	if src.err != nil {
		return File{}, fmt.Errorf("read image: %w", src.err)
	}
	var img File
	var payload io.Reader = br
	enc, sig := locate(peek)
	switch enc {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			img.Problem = "gzip stream: " + err.Error()
			payload = eofReader{}
			break
		}
		zr.Multistream(false) // eboot and esp32FOTA inflate one member
		payload = zr
	case Zlib:
		zr, err := zlib.NewReader(br)
		if err != nil {
			img.Problem = "zlib stream: " + err.Error()
			payload = eofReader{}
			break
		}
		payload = zr
	}
	if sig > 0 {
		br.Discard(sig)
	}
	img.Encoding, img.SignatureLen = enc, sig

	w := &walker{r: payload, limit: limit, md5: md5.New(), hashEnd: -1}
	w.scan(&img)
	if w.err != nil && img.Problem == "" {
		img.Problem = w.problem()
	}
	img.Size = w.pos
	if img.Problem != "" {
		// Digests of content that is not what it claims are of no use.
		img.SketchLen, img.FlashedMD5 = 0, ""
	}
	// Whatever follows (a gzip trailer, bytes after the stream) is read
	// too: callers tee r into a file and digests.
	if _, err := io.Copy(io.Discard, br); err != nil && src.err == nil {
		src.err = err
	}
	if src.err != nil {
		return File{}, fmt.Errorf("read image: %w", src.err)
	}
	img.Filesystem = DetectFilesystem(src.prefix, src.n)
	return img, nil
}

// locate picks how the file whose first bytes are peek holds its image,
// by the rules documented on Scan. It returns the encoding and how many
// signature bytes precede the image.
func locate(peek []byte) (Encoding, int) {
	if len(peek) > 0 && peek[0] == imageMagic && headerOK(peek) {
		return Raw, 0
	}
	enc := compression(peek)
	if enc != Raw && inflatesToImage(peek, enc) {
		return enc, 0
	}
	if n, ok := SignedImageOffset(peek); ok {
		return Raw, n
	}
	return enc, 0
}

// headerOK reports whether Parse accepts p as an image header (an unknown
// chip id included).
func headerOK(p []byte) bool {
	_, err := Parse(p)
	return err == nil || errors.Is(err, ErrUnknownChipID)
}

// inflatesToImage reports whether the compressed stream starting in p
// inflates to something that starts with the image magic byte.
func inflatesToImage(p []byte, enc Encoding) bool {
	var zr io.Reader
	var err error
	if enc == Gzip {
		zr, err = gzip.NewReader(bytes.NewReader(p))
	} else {
		zr, err = zlib.NewReader(bytes.NewReader(p))
	}
	if err != nil {
		return false
	}
	var b [1]byte
	n, _ := io.ReadFull(zr, b[:])
	return n == 1 && b[0] == imageMagic
}

// sourceReader reads the file, keeps its first fsPrefixLen bytes for
// DetectFilesystem, counts it, and remembers its error, so that Scan can
// tell a failing reader from a damaged compressed stream.
type sourceReader struct {
	r      io.Reader
	prefix []byte
	n      int64
	err    error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if room := fsPrefixLen - len(s.prefix); room > 0 && n > 0 {
		s.prefix = append(s.prefix, p[:min(n, room)]...)
	}
	s.n += int64(n)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// walker reads the image content once, front to back: it keeps the head,
// walks the segment headers, and hashes the sketch.
type walker struct {
	r       io.Reader
	limit   int64
	pos     int64 // bytes of content read
	head    []byte
	md5     hash.Hash
	hashEnd int64 // content at and beyond it is not hashed; -1 until known
	err     error // the first failure: io.EOF (content ended), ErrTooLarge, or the reader's
}

// read reads into p from the content; it returns how many bytes it read.
// After a failure it reads nothing.
func (w *walker) read(p []byte) int {
	if w.err != nil {
		return 0
	}
	if room := w.limit - w.pos; int64(len(p)) > room {
		if room <= 0 {
			// One byte more tells content at the limit from content over it.
			var b [1]byte
			if n, _ := io.ReadFull(w.r, b[:]); n > 0 {
				w.err = ErrTooLarge
			} else {
				w.err = io.EOF
			}
			return 0
		}
		p = p[:room]
	}
	n, err := io.ReadFull(w.r, p)
	w.account(p[:n])
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		w.err = err
	}
	return n
}

func (w *walker) account(b []byte) {
	if room := HeaderLen - len(w.head); room > 0 {
		w.head = append(w.head, b[:min(len(b), room)]...)
	}
	h := b
	if w.hashEnd >= 0 {
		h = b[:max(0, min(int64(len(b)), w.hashEnd-w.pos))]
	}
	w.md5.Write(h)
	w.pos += int64(len(b))
}

// skipTo reads the content up to offset off.
func (w *walker) skipTo(off int64) {
	var buf [32 << 10]byte
	for w.pos < off && w.err == nil {
		w.read(buf[:min(int64(len(buf)), off-w.pos)])
	}
}

// at returns the n bytes at offset off, reading the content up to them;
// nil when the content ends first. Offsets go forward: bytes behind the
// read position are only there when they are in the head.
func (w *walker) at(off int64, n int) []byte {
	b := make([]byte, 0, n)
	if hl := int64(len(w.head)); off < hl {
		b = append(b, w.head[off:min(off+int64(n), hl)]...)
	}
	if len(b) < n {
		next := off + int64(len(b))
		if next < w.pos {
			return nil
		}
		w.skipTo(next)
		rest := make([]byte, n-len(b))
		b = append(b, rest[:w.read(rest)]...)
	}
	if len(b) < n {
		return nil
	}
	return b
}

// drain reads the rest of the content, up to the limit and one byte more
// to tell content at the limit from content over it.
func (w *walker) drain() {
	w.skipTo(w.limit)
	var b [1]byte
	w.read(b[:])
}

func (w *walker) problem() string {
	switch {
	case errors.Is(w.err, ErrTooLarge):
		return fmt.Sprintf("content over %d bytes (decompressed): %v", w.limit, ErrTooLarge)
	case w.err == io.EOF:
		return ""
	}
	return "content: " + w.err.Error()
}

// scan fills img from the content.
func (w *walker) scan(img *File) {
	w.skipTo(HeaderLen)
	img.Head = w.head
	info, err := Parse(w.head)
	if err != nil && !errors.Is(err, ErrUnknownChipID) {
		w.drain()
		return
	}
	esp32 := info.Chip != ESP8266
	end, mapped, why := w.segments(0, nil, esp32, info.Chip)
	if why != "" {
		img.Problem = why
		w.drain()
		return
	}
	sketch := end
	if !esp32 {
		sketch = 0 // the Arduino core measures the application after eboot
		if !mapped && end <= arduinoAppOffset {
			if hdr := w.at(arduinoAppOffset, 8); hdr != nil && hdr[0] == imageMagic {
				end, mapped, why = w.segments(arduinoAppOffset, hdr, false, ESP8266)
				if why != "" {
					img.Problem = "application at 0x1000: " + why
					w.drain()
					return
				}
				sketch = end
			}
		}
	}
	switch {
	case info.Chip == "":
	case mapped:
		img.Kind = KindApp
	default:
		img.Kind = KindRAMOnly
	}
	if sketch > 0 {
		w.hashEnd = sketch
		w.skipTo(sketch)
		if w.pos < sketch {
			if w.err == io.EOF {
				img.Problem = fmt.Sprintf("truncated: the image ends at byte %d, the content at %d", sketch, w.pos)
			}
			w.drain()
			return
		}
		img.SketchLen = sketch
		if sketch < int64(len(w.head)) {
			// A tiny image: its end was in the head, which was hashed whole.
			sum := md5.Sum(w.head[:sketch])
			img.FlashedMD5 = hex.EncodeToString(sum[:])
		} else {
			img.FlashedMD5 = hex.EncodeToString(w.md5.Sum(nil))
		}
	}
	w.drain()
}

// segments walks the segment headers of the image at offset start, whose
// first 8 bytes are hdr (nil to read them), and returns where the image ends (after its checksum, and its appended
// SHA-256 on ESP32-family chips) and whether a segment loads into chip's
// flash-mapped window. why says what is wrong when the segments cannot be
// walked.
func (w *walker) segments(start int64, hdr []byte, esp32 bool, chip Chip) (end int64, mapped bool, why string) {
	if hdr == nil {
		hdr = w.at(start, 8)
	}
	if hdr == nil {
		return 0, false, "truncated: no image header"
	}
	n := int(hdr[1])
	off := start + esp8266HeaderLen
	hashAppended := false
	if esp32 {
		ext := w.at(start+8, 16)
		if ext == nil {
			return 0, false, "truncated: no extended header"
		}
		hashAppended = ext[15] == 1
		off = start + esp32HeaderLen
	}
	if n == 0 || n > MaxSegments {
		return 0, false, fmt.Sprintf("%d segments, want 1 to %d", n, MaxSegments)
	}
	for i := range n {
		sh := w.at(off, 8)
		if sh == nil {
			return 0, false, fmt.Sprintf("truncated: segment %d's header at byte %d is past the end", i, off)
		}
		addr := binary.LittleEndian.Uint32(sh[0:4])
		length := binary.LittleEndian.Uint32(sh[4:8])
		if length > maxSegmentLen {
			return 0, false, fmt.Sprintf("segment %d: %d bytes, more than a segment holds", i, length)
		}
		if chip.flashMapped(addr) {
			mapped = true
		}
		off += 8 + int64(length)
	}
	// The checksum is the last byte of the 16-byte block after the data.
	end = (off + 16) &^ 15
	if hashAppended {
		end += 32
	}
	return end, mapped, ""
}

// Content returns a reader of the image content of a file read from r
// that Scan reported as img: inflated (at most limit bytes) and after its
// signature. Reading it fails as Scan found, for damaged content.
func Content(r io.Reader, img *File, limit int64) (io.Reader, error) {
	var out io.Reader = r
	switch img.Encoding {
	case Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		zr.Multistream(false)
		out = zr
	case Zlib:
		zr, err := zlib.NewReader(r)
		if err != nil {
			return nil, err
		}
		out = zr
	}
	if img.SignatureLen > 0 {
		if _, err := io.CopyN(io.Discard, out, int64(img.SignatureLen)); err != nil {
			return nil, err
		}
	}
	return io.LimitReader(out, limit), nil
}
