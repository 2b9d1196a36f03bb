package espimage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Image is a whole application image read from a file.
type Image struct {
	// Name is the file name as given, for messages.
	Name string
	// Data is the file as stored: what a device downloads.
	Data []byte
	// Content is what to look into: Data, or for a compressed or signed
	// image the image inside it.
	Content []byte
	// Info is what Parse read from Content. Its Chip is "" for an
	// ESP32-family chip id otagit does not know (ChipID holds it).
	Info Info
	// Gzip is true for a gzip-compressed image.
	Gzip bool
	// Scanned is what Scan learned from Data.
	Scanned File
}

// ReadFile reads the application image in file, as Scan sees it, and
// refuses anything that is not one: a file that is not an ESP application
// image (compressed, signed or not), a damaged one, one that loads only
// into RAM (a bootloader), a file or decompressed content of more than
// limit bytes. An image whose ESP32-family chip id is unknown is accepted
// (see Info.Fits); so is any encoding: whether a platform's devices can
// flash it is the config loader's call. Errors name file.
func ReadFile(file string, limit int64) (*Image, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", file)
	}
	data, err := readAtMost(f, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	img := &Image{Name: file, Data: data, Content: data}
	if img.Scanned, err = Scan(bytes.NewReader(data), limit); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	s := &img.Scanned
	what := ""
	switch {
	case s.Encoding != Raw:
		what = " inside " + s.Encoding.String()
	case s.SignatureLen > 0:
		what = " after its signature"
	}
	if what != "" {
		r, cerr := Content(bytes.NewReader(data), s, limit+1)
		if cerr == nil {
			img.Content, cerr = readAtMost(r, limit)
		}
		if cerr != nil {
			return nil, fmt.Errorf("%s is not an ESP application image: a %s file that does not decompress: %v", file, s.Encoding, cerr)
		}
		img.Gzip = s.Encoding == Gzip
	}
	info, err := s.Info()
	switch {
	case s.Problem != "":
		return nil, fmt.Errorf("%s is a damaged image: %s", file, s.Problem)
	case err != nil && !errors.Is(err, ErrUnknownChipID):
		return nil, fmt.Errorf("%s is not an ESP application image%s: %v", file, what, err)
	case s.Kind == KindRAMOnly:
		return nil, fmt.Errorf("%s is not an application image: none of its segments loads into flash, so it is a bootloader or an image that runs from RAM", file)
	}
	img.Info = info
	return img, nil
}

// readAtMost reads r to the end, refusing more than limit bytes.
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than the %d bytes allowed", limit)
	}
	return b, nil
}

// Fits reports whether an image with this Info can be for a device with
// chip c. An image with an ESP32-family chip id otagit does not know
// (Chip "") fits every ESP32-family chip: the device's bootloader judges
// it.
func (info Info) Fits(c Chip) bool {
	if info.Chip == "" {
		return c.ESP32Family()
	}
	return info.Chip == c
}

// ChipName describes the chip an image with this Info is built for, for
// messages: the chip's name, or for an unknown chip id a phrase that
// gives it.
func (info Info) ChipName() string {
	if info.Chip == "" {
		return fmt.Sprintf("an ESP32-family chip with chip id 0x%04x (unknown to otagit)", info.ChipID)
	}
	return string(info.Chip)
}
