package espimage

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"regexp"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	for _, chip := range KnownChips() {
		for _, noDesc := range []bool{false, true} {
			img, err := Build(BuildOptions{Chip: chip, ProjectName: "fuzz-" + string(chip), Version: "1.2.3", NoDescriptor: noDesc})
			if err != nil {
				f.Fatal(err)
			}
			f.Add(img[:min(len(img), HeaderLen)])
		}
	}
	desc := descriptor("1.0.0", "seed", "00:00:00", "Jan  1 2025", "v5.4")
	f.Add([]byte{})
	f.Add([]byte{0xE9})
	f.Add([]byte{0x1F, 0x8B, 0x08})
	f.Add([]byte{0x1F})
	f.Add([]byte("\x7fELF"))
	f.Add(withFirstSegment(esp32Header(0x63), 0x3C000020, 1024, desc))
	f.Add(withFirstSegment(esp32Header(9), 0x3C000020, 100, desc))
	garbled := bytes.Clone(desc)
	garbled[20], garbled[21] = 0xFF, 0xFE
	f.Add(withFirstSegment(esp32Header(9), 0x3C000020, 1024, garbled))
	f.Add([]byte{0xE9, 0x02, 0x00, 0x40, 0x00, 0xF0, 0x10, 0x40, 0x00, 0xF0, 0x10, 0x40, 0x50, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})

	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Parse(data)

		again, err2 := Parse(bytes.Clone(data))
		if !reflect.DeepEqual(info, again) || (err == nil) != (err2 == nil) {
			t.Fatalf("Parse is not deterministic: %+v, %v then %+v, %v", info, err, again, err2)
		}
		if len(data) > HeaderLen {
			cut, errCut := Parse(data[:HeaderLen])
			if !reflect.DeepEqual(info, cut) || (err == nil) != (errCut == nil) {
				t.Fatalf("Parse looks beyond HeaderLen: %+v, %v vs %+v, %v", info, err, cut, errCut)
			}
		}

		if err != nil {
			sentinels := []error{ErrEmpty, ErrTooShort, ErrBadMagic, ErrUnknownChipID, ErrUnknownLayout, ErrBadSegmentCount}
			found := false
			for _, s := range sentinels {
				found = found || errors.Is(err, s)
			}
			if !found {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			if errors.Is(err, ErrUnknownChipID) {
				if info.Chip != "" {
					t.Errorf("ErrUnknownChipID with Chip %q", info.Chip)
				}
				if c, ok := ChipForID(info.ChipID); ok {
					t.Errorf("ErrUnknownChipID for known chip id %d (%s)", info.ChipID, c)
				}
			}
		} else {
			if info.Compressed {
				if !reflect.DeepEqual(info, Info{Compressed: true}) {
					t.Errorf("compressed image with more than Compressed set: %+v", info)
				}
			} else if !info.Chip.Known() {
				t.Fatalf("no error but Chip %q is not known", info.Chip)
			} else if info.SegmentCount < 1 || info.SegmentCount > MaxSegments {
				t.Errorf("no error but SegmentCount %d", info.SegmentCount)
			}
			if info.Chip == ESP8266 && (info.ChipID != 0 || info.HashAppended || info.App != nil || info.MinChipRev != 0 || info.MaxChipRev != 0) {
				t.Errorf("ESP8266 image with ESP32-family fields: %+v", info)
			}
			if info.Chip.ESP32Family() {
				if c, ok := ChipForID(info.ChipID); !ok || c != info.Chip {
					t.Errorf("Chip %q but ChipID %d names %q", info.Chip, info.ChipID, c)
				}
			}
		}

		if info.SegmentCount > 255 || info.FlashSizeCode > 15 || info.FlashFreqCode > 15 {
			t.Errorf("field out of range: %+v", info)
		}
		switch info.FlashSize {
		case 0, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20, 128 << 20:
		default:
			t.Errorf("FlashSize %d is not a flash size", info.FlashSize)
		}
		if info.App != nil {
			if info.AppInvalid {
				t.Error("App set and AppInvalid true")
			}
			for _, f := range []struct {
				s   string
				max int
			}{{info.App.Version, 32}, {info.App.ProjectName, 32}, {info.App.Time, 16}, {info.App.Date, 16}, {info.App.IDFVersion, 32}} {
				if len(f.s) > f.max || !utf8.ValidString(f.s) || !printable(f.s) {
					t.Errorf("descriptor field %q: too long or not printable", f.s)
				}
			}
		}
	})
}

// seedVersionRE is the old server's version pattern.
var seedVersionRE = regexp.MustCompile(`v[0-9]+\.[0-9]+\.[0-9]+`)

func FuzzScanSeedConvention(f *testing.F) {
	f.Add([]byte("\x00garage\x00v1.2.3\x00"), "GARAGE", uint8(3))
	f.Add([]byte("vv1.2.3.4 v5.6.7"), "", uint8(1))
	f.Add([]byte("v1..2.3 V1.2.3 v12.34.56"), "v1", uint8(2))
	f.Add([]byte("v"+string(bytes.Repeat([]byte("9"), 70))+".1.1 v2.2.2"), "9.1", uint8(7))
	img, err := Build(BuildOptions{Chip: ESP32C3, ProjectName: "Fuzz", Version: "0.1.2"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(img, "fuzz", uint8(64))

	f.Fuzz(func(t *testing.T, data []byte, platform string, bufSize uint8) {
		size := int(bufSize)%64 + 1
		got, err := scanSeed(bytes.NewReader(data), platform, size)
		if err != nil {
			t.Fatalf("scanSeed: %v", err)
		}

		wantPlatform := platform != "" && bytes.Contains(lowerASCII(bytes.Clone(data)), lowerASCII([]byte(platform)))
		if got.PlatformFound != wantPlatform {
			t.Errorf("PlatformFound: got %v, want %v", got.PlatformFound, wantPlatform)
		}
		// Reference: the first match of the old pattern that is not too long.
		// Matches never overlap (only the first byte is a 'v'), so skipping
		// a long one and taking the next is what the scanner does.
		wantVersion := ""
		for _, m := range seedVersionRE.FindAll(data, -1) {
			if len(m) <= MaxSeedVersionLen {
				wantVersion = string(m[1:])
				break
			}
		}
		if got.Version != wantVersion {
			t.Errorf("Version: got %q, want %q", got.Version, wantVersion)
		}

		whole, err := ScanSeedConvention(iotest.HalfReader(bytes.NewReader(data)), platform)
		if err != nil || whole != got {
			t.Errorf("ScanSeedConvention: got %+v, %v, want %+v", whole, err, got)
		}
	})
}

func FuzzScan(f *testing.F) {
	app, _ := Build(BuildOptions{Chip: ESP32C3, ProjectName: "fuzz", Version: "1.0.0", Size: 2048})
	arduino, _ := Build(BuildOptions{Chip: ESP8266, ProjectName: "fuzz", Version: "1.0.0", Arduino: true})
	f.Add(app)
	f.Add(arduino)
	f.Add(gzipped(f, app))
	f.Add(zlibbed(f, arduino))
	f.Add(append(bytes.Repeat([]byte{0x42}, SignatureLen), app...))
	f.Add(gzipped(f, make([]byte, 1<<16)))
	f.Add(littlefsImage(4096, 2, 0))
	f.Add([]byte{0x1F, 0x8B, 0x08})
	f.Add([]byte{0x78, 0x9C, 0x00})
	const limit = 1 << 17
	f.Fuzz(func(t *testing.T, data []byte) {
		var seen bytes.Buffer
		img, err := Scan(io.TeeReader(bytes.NewReader(data), &seen), limit)
		if err != nil {
			t.Fatalf("Scan of a reader that never fails: %v", err)
		}
		if !bytes.Equal(seen.Bytes(), data) {
			t.Fatalf("Scan read %d of %d bytes", seen.Len(), len(data))
		}
		if img.Size > limit {
			t.Fatalf("inflated %d bytes past the %d limit", img.Size, limit)
		}
		if len(img.Head) > HeaderLen || int64(len(img.Head)) > img.Size {
			t.Fatalf("Head of %d bytes for content of %d", len(img.Head), img.Size)
		}
		if img.SketchLen > img.Size || (img.SketchLen > 0) != (img.FlashedMD5 != "") {
			t.Fatalf("SketchLen %d, FlashedMD5 %q, Size %d", img.SketchLen, img.FlashedMD5, img.Size)
		}
		info, perr := img.Info()
		if img.Kind != KindUnknown && (perr != nil && !errors.Is(perr, ErrUnknownChipID) || info.Chip == "") {
			t.Fatalf("Kind %v for a head Parse refuses: %v", img.Kind, perr)
		}
		if img.Encoding == Raw && img.SignatureLen == 0 && img.Size != int64(len(data)) {
			t.Fatalf("raw content Size %d of a %d-byte file", img.Size, len(data))
		}
		again, _ := Scan(bytes.NewReader(data), limit)
		if !reflect.DeepEqual(img, again) {
			t.Fatalf("Scan is not deterministic:\n%+v\n%+v", img, again)
		}
	})
}

func FuzzDetectFilesystem(f *testing.F) {
	f.Add(littlefsImage(4096, 2, 1), int64(8192))
	f.Add(spiffsImage(256, 4096, 2, true), int64(8192))
	f.Add(fatImage(), int64(65536))
	f.Add([]byte{}, int64(0))
	f.Fuzz(func(t *testing.T, p []byte, size int64) {
		got := DetectFilesystem(p, size)
		if got != DetectFilesystem(bytes.Clone(p), size) {
			t.Fatal("not deterministic")
		}
		if got > FAT {
			t.Fatalf("unknown result %d", got)
		}
	})
}
