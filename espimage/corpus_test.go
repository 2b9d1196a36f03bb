package espimage

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusEnv names the folder of real firmware images (../shared/fw-corpus
// in the project's workspace) that TestCorpus reads. The images are never
// copied into the project.
const corpusEnv = "OTAGIT_FW_CORPUS"

// corpusNoApp lists the corpus images the manifest calls "app" that are
// not installable applications, and why Scan calls them RAM-only: their
// code that runs from flash is in another file, flashed at another address,
// so no OTA client can install them as an application.
var corpusNoApp = map[string]string{
	"nonos/bin__at__noboot__eagle.flash.bin":                                       "NONOS SDK 0x00000 half; its IROM is eagle.irom0text.bin at 0x10000",
	"esptool/test_elf2image_esp8266-v1_nonossdk20-iotdemo.elf-0x00000.bin":         "NONOS SDK 0x00000 half; its IROM is the 0x10000 file",
	"esptool/test_images_nodemcu-master-7-modules-2017-01-19-11-10-03-integer.bin": "NodeMCU full flash dump: a 0x00000 half padded, then raw IROM",
	"esptool/test_images_not_4_byte_aligned.bin":                                   "esptool fixture: one 20-byte IRAM segment",
	"espflash/v0__espflash__tests__data__esp8266.bin":                              "espflash fixture: IRAM segments only",
	"espflash/v0__tests__data__esp8266.bin":                                        "espflash fixture: IRAM segments only",
	"espflash/v0__tests__data__esp.elf0x00000.bin":                                 "espflash fixture: IRAM segments only",
}

// TestCorpus runs Scan over every image of the real-firmware corpus and
// checks it against MANIFEST.tsv: the chip of every image (a compressed
// one's from its decompressed header), applications told from bootloaders
// and RAM images, and files that are not images refused.
func TestCorpus(t *testing.T) {
	dir := os.Getenv(corpusEnv)
	if dir == "" {
		t.Skipf("%s not set: no real firmware corpus to check", corpusEnv)
	}
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatalf("%s=%s: %v", corpusEnv, dir, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var col map[string]int
	n := 0
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if col == nil {
			col = map[string]int{}
			for i, name := range fields {
				col[name] = i
			}
			for _, need := range []string{"file", "true_chip", "kind"} {
				if _, ok := col[need]; !ok {
					t.Fatalf("MANIFEST.tsv has no %q column", need)
				}
			}
			continue
		}
		file, chip, kind := fields[col["file"]], fields[col["true_chip"]], fields[col["kind"]]
		n++
		t.Run(file, func(t *testing.T) { checkCorpusImage(t, filepath.Join(dir, file), file, chip, kind) })
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("MANIFEST.tsv lists no image")
	}
}

func checkCorpusImage(t *testing.T, path, file, trueChip, kind string) {
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := Scan(fh, 128<<20)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	info, perr := img.Info()
	t.Logf("%s (%s): %v %s, kind %v, sketch %d bytes, problem %q, err %v", trueChip, kind, img.Encoding, info.Chip, img.Kind, img.SketchLen, img.Problem, perr)

	// Files that are no image at all, or none a device's updater takes.
	switch kind {
	case "data", "encrypted", "direct-boot", "raw-irom", "esp8266-v2", "segment-data", "invalid":
		if perr == nil {
			t.Errorf("%s file read as a %s image", kind, info.Chip)
		}
		return
	}
	if trueChip == "?" {
		if perr == nil {
			t.Errorf("header-only fixture of unknown chip read as %s", info.Chip)
		}
		return
	}

	// The chip. Engineering samples carry ids no released chip has.
	switch {
	case strings.Contains(trueChip, "beta") || strings.Contains(trueChip, "eng-sample"):
		if strings.Contains(trueChip, "(id?)") {
			break // an id the manifest does not know either
		}
		if !errors.Is(perr, ErrUnknownChipID) {
			t.Errorf("engineering sample %s: %v %s, want an unknown chip id", trueChip, perr, info.Chip)
		}
	case perr != nil:
		t.Errorf("not read: %v", perr)
	case string(info.Chip) != trueChip:
		t.Errorf("chip %s, want %s", info.Chip, trueChip)
	}

	// Application or not.
	wantApp := kind == "app" || kind == "gzip" || kind == "gzip-derived"
	if why, ok := corpusNoApp[file]; ok {
		wantApp = false
		t.Logf("not an application: %s", why)
	}
	if perr != nil {
		return
	}
	switch {
	case wantApp && img.Kind != KindApp:
		t.Errorf("kind %v, want an application", img.Kind)
	case !wantApp && img.Kind == KindApp:
		t.Errorf("%s read as an application", kind)
	}
	if wantApp && img.Problem != "" {
		t.Errorf("problem %q in a good image", img.Problem)
	}
	if wantApp && info.Chip.ESP32Family() && img.FlashedMD5 == "" {
		t.Errorf("no flashed MD5 for an ESP32-family application")
	}
}
