package rollout

import (
	"encoding"
	"errors"
	"testing"
)

var (
	_ encoding.TextMarshaler   = MAC{}
	_ encoding.TextUnmarshaler = (*MAC)(nil)
)

func TestParseMAC(t *testing.T) {
	want := MAC{0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF}
	mixed := MAC{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB}
	tests := []struct {
		name string
		in   string
		want MAC
		ok   bool
	}{
		{"upper colon", "AA:BB:CC:DD:EE:FF", want, true},
		{"lower colon", "aa:bb:cc:dd:ee:ff", want, true},
		{"mixed case", "aA:Bb:cC:Dd:eE:Ff", want, true},
		{"dash", "AA-BB-CC-DD-EE-FF", want, true},
		{"lower dash", "aa-bb-cc-dd-ee-ff", want, true},
		{"bare", "AABBCCDDEEFF", want, true},
		{"bare lower", "aabbccddeeff", want, true},
		{"digits", "01:23:45:67:89:ab", mixed, true},
		{"zero", "00:00:00:00:00:00", MAC{}, true},
		{"broadcast", "ff:ff:ff:ff:ff:ff", MAC{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, true},
		{"leading spaces", "   AA:BB:CC:DD:EE:FF", want, true},
		{"trailing spaces", "AA:BB:CC:DD:EE:FF  ", want, true},
		{"tabs", "\tAA:BB:CC:DD:EE:FF\t", want, true},
		{"spaces and tabs around bare", " \t aabbccddeeff \t ", want, true},

		{"empty", "", MAC{}, false},
		{"only spaces", "  \t ", MAC{}, false},
		{"mixed separators", "AA:BB-CC:DD:EE:FF", MAC{}, false},
		{"mixed separators last", "AA-BB-CC-DD-EE:FF", MAC{}, false},
		{"dot separator", "AA.BB.CC.DD.EE.FF", MAC{}, false},
		{"space separator", "AA BB CC DD EE FF", MAC{}, false},
		{"cisco dots", "aabb.ccdd.eeff", MAC{}, false},
		{"too short bare", "AABBCCDDEE", MAC{}, false},
		{"too long bare", "AABBCCDDEEFF00", MAC{}, false},
		{"eleven", "AABBCCDDEEF", MAC{}, false},
		{"thirteen", "AABBCCDDEEFF0", MAC{}, false},
		{"five groups", "AA:BB:CC:DD:EE", MAC{}, false},
		{"seven groups", "AA:BB:CC:DD:EE:FF:00", MAC{}, false},
		{"trailing separator", "AA:BB:CC:DD:EE:FF:", MAC{}, false},
		{"single digit groups", "A:B:C:D:E:F", MAC{}, false},
		{"non-hex bare", "AABBCCDDEEFG", MAC{}, false},
		{"non-hex colon", "AA:BB:CC:DD:EE:FG", MAC{}, false},
		{"non-hex first", "GA:BB:CC:DD:EE:FF", MAC{}, false},
		{"17 chars separators shifted", "AAB:BCC:DDE:EFF::", MAC{}, false},
		{"17 chars separator late", "AA:BBC:CDD:EEFF::", MAC{}, false},
		{"17 chars no separators", "AABBCCDDEEFF01234", MAC{}, false},
		{"17 chars hex where separators go", "AA:BB:CC:DD0EE:FF", MAC{}, false},
		{"17 chars separator first", ":AA:BB:CC:DD:EEFF", MAC{}, false},
		{"inner space", "AA:BB:CC :DD:EE:F", MAC{}, false},
		{"newline around", "\nAA:BB:CC:DD:EE:FF\n", MAC{}, false},
		{"non-ASCII", "AA:BB:CC:DD:EE:É", MAC{}, false},
		{"0x prefix", "0xAABBCCDDEEFF", MAC{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMAC(tt.in)
			if tt.ok {
				if err != nil {
					t.Fatalf("ParseMAC(%q): got error %v, want %v", tt.in, err, tt.want)
				}
				if got != tt.want {
					t.Fatalf("ParseMAC(%q): got %v, want %v", tt.in, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseMAC(%q): got %v, want an error", tt.in, got)
			}
			if !errors.Is(err, ErrBadMAC) {
				t.Errorf("ParseMAC(%q): got error %v, want one wrapping ErrBadMAC", tt.in, err)
			}
			if got != (MAC{}) {
				t.Errorf("ParseMAC(%q) on error: got %v, want the zero MAC", tt.in, got)
			}
		})
	}
}

func TestMACString(t *testing.T) {
	tests := []struct {
		mac  MAC
		want string
	}{
		{MAC{}, "00:00:00:00:00:00"},
		{MAC{0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF}, "AA:BB:CC:DD:EE:FF"},
		{MAC{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB}, "01:23:45:67:89:AB"},
		{MAC{0x0F, 0xF0, 0x10, 0x01, 0x9A, 0xA9}, "0F:F0:10:01:9A:A9"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.mac.String(); got != tt.want {
				t.Errorf("String(): got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMACText(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"aa-bb-cc-dd-ee-ff", "AA:BB:CC:DD:EE:FF"},
		{"0123456789ab", "01:23:45:67:89:AB"},
		{" 00:00:00:00:00:01 ", "00:00:00:00:00:01"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var m MAC
			if err := m.UnmarshalText([]byte(tt.in)); err != nil {
				t.Fatalf("UnmarshalText(%q): got error %v, want nil", tt.in, err)
			}
			text, err := m.MarshalText()
			if err != nil {
				t.Fatalf("MarshalText(): got error %v, want nil", err)
			}
			if string(text) != tt.want {
				t.Fatalf("MarshalText(): got %q, want %q", text, tt.want)
			}
			var back MAC
			if err := back.UnmarshalText(text); err != nil {
				t.Fatalf("UnmarshalText(%q): got error %v, want nil", text, err)
			}
			if back != m {
				t.Errorf("round trip: got %v, want %v", back, m)
			}
		})
	}

	t.Run("error leaves value unchanged", func(t *testing.T) {
		orig := MAC{1, 2, 3, 4, 5, 6}
		m := orig
		err := m.UnmarshalText([]byte("not a mac"))
		if !errors.Is(err, ErrBadMAC) {
			t.Fatalf("UnmarshalText: got error %v, want ErrBadMAC", err)
		}
		if m != orig {
			t.Errorf("after failed UnmarshalText: got %v, want %v", m, orig)
		}
	})
}

func TestParseMACNoAlloc(t *testing.T) {
	for _, in := range []string{"AA:BB:CC:DD:EE:FF", "aa-bb-cc-dd-ee-ff", " aabbccddeeff\t"} {
		t.Run(in, func(t *testing.T) {
			var sink MAC
			allocs := testing.AllocsPerRun(100, func() {
				m, err := ParseMAC(in)
				if err != nil {
					panic(err)
				}
				sink = m
			})
			if allocs != 0 {
				t.Errorf("ParseMAC(%q): got %v allocations per run, want 0", in, allocs)
			}
			if sink == (MAC{}) {
				t.Errorf("ParseMAC(%q): got the zero MAC, want AA:BB:CC:DD:EE:FF", in)
			}
		})
	}
}
