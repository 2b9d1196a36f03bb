package espimage

import (
	"bytes"
	"compress/gzip"
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
	// Content is what to look into: Data, or for a gzip-compressed image
	// what it decompresses to.
	Content []byte
	// Info is what Parse read from Content. Its Chip is "" for an
	// ESP32-family chip id otagit does not know (ChipID holds it).
	Info Info
	// Gzip is true for a gzip-compressed ESP8266 image.
	Gzip bool
}

// ReadFile reads the application image in file, and refuses anything that
// is not one: a file that is not an ESP application image (or a
// gzip-compressed ESP8266 one, which ESP8266 cores 3.0 and later flash), a
// compressed image for another chip, a file or decompressed content of
// more than limit bytes. An image whose ESP32-family chip id is unknown is
// accepted (see Info.Fits). Errors name file.
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
	info, err := Parse(data)
	if err == nil && info.Compressed {
		zr, zerr := gzip.NewReader(bytes.NewReader(data))
		if zerr == nil {
			img.Content, zerr = readAtMost(zr, limit)
		}
		if zerr != nil {
			return nil, fmt.Errorf("%s is not an ESP application image: a gzip file that does not decompress: %v", file, zerr)
		}
		img.Gzip = true
		info, err = Parse(img.Content)
		if err == nil && info.Chip != ESP8266 {
			return nil, fmt.Errorf("%s is a gzip-compressed %s image: only ESP8266 devices accept compressed images", file, info.Chip)
		}
	}
	if err != nil && !errors.Is(err, ErrUnknownChipID) {
		what := ""
		if img.Gzip {
			what = " inside gzip"
		}
		return nil, fmt.Errorf("%s is not an ESP application image%s: %v", file, what, err)
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
