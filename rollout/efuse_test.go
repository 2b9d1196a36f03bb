package rollout

import (
	"errors"
	"strconv"
	"testing"
)

// TestEfuseID: the decimal esp32FOTA sends as ?id= for a known MAC. The
// expected numbers are the MAC's bytes read little-endian, written out by
// hand: 24:0A:C4:12:34:56 is 0x56_34_12_C4_0A_24.
func TestEfuseID(t *testing.T) {
	tests := []struct {
		mac  string
		want uint64
	}{
		// Decimals as a device prints them (checked with Python's
		// int.from_bytes(mac, "little")), and the same in hex.
		{"24:0A:C4:12:34:56", 94781653125668}, // 0x56_34_12_C4_0A_24
		{"30:AE:A4:07:0D:64", 110007125585456},
		{"18:FE:34:A1:00:01", 1102216232472},
		{"24:0A:C4:B2:00:01", 1102510819876},
		{"12:34:56:78:9A:BC", 0xBC9A78563412},
		{"01:00:00:00:00:00", 1},               // the first byte is the lowest
		{"00:00:00:00:00:01", 1 << 40},         // the last byte is the highest
		{"80:00:00:00:00:00", 0x80},            // the first byte's top bit
		{"00:00:00:00:00:80", 1 << 47},         // the top bit of all
		{"FF:FF:FF:FF:FF:FF", 281474976710655}, // 2^48-1
		{"00:00:00:00:00:00", 0},
		{"DE:AD:BE:EF:00:00", 4022250974},
		{"00:00:DE:AD:BE:EF", 263602239832064},
	}
	for _, tt := range tests {
		mac, err := ParseMAC(tt.mac)
		if err != nil {
			t.Fatal(err)
		}
		if got := EfuseID(mac); got != tt.want {
			t.Errorf("EfuseID(%s) = %d (%#x), want %d (%#x)", tt.mac, got, got, tt.want, tt.want)
		}
		back, err := ParseEfuseID(strconv.FormatUint(tt.want, 10))
		if err != nil || back != mac {
			t.Errorf("ParseEfuseID(%d) = %s, %v; want %s", tt.want, back, err, mac)
		}
	}
}

func TestParseEfuseIDErrors(t *testing.T) {
	for _, s := range []string{"", "-1", "0x1234", "281474976710656" /* 2^48 */, "18446744073709551615", "12 34", "1e6", "+5"} {
		if m, err := ParseEfuseID(s); !errors.Is(err, ErrBadEfuseID) {
			t.Errorf("ParseEfuseID(%q) = %s, %v; want ErrBadEfuseID", s, m, err)
		}
	}
}

// FuzzParseEfuseID: any text either is refused or names the MAC whose
// EfuseID is the number written.
func FuzzParseEfuseID(f *testing.F) {
	for _, s := range []string{"94781653125668", "0", "281474976710655", "281474976710656", "-1", "+1", "00012", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseEfuseID(s)
		if err != nil {
			if !errors.Is(err, ErrBadEfuseID) {
				t.Fatalf("ParseEfuseID(%q): %v, not ErrBadEfuseID", s, err)
			}
			return
		}
		n, perr := strconv.ParseUint(s, 10, 64)
		if perr != nil || EfuseID(m) != n {
			t.Fatalf("ParseEfuseID(%q) = %s, whose EfuseID is %d", s, m, EfuseID(m))
		}
	})
}
