package console

import "testing"

func TestByteSizeFlag(t *testing.T) {
	for in, want := range map[string]uint64{
		"0": 0, "4096": 4096, "512M": 512 << 20, "2G": 2 << 30, "1.5g": 3 << 29, "64KiB": 64 << 10, "1TB": 1 << 40,
	} {
		var b byteSize
		if err := b.Set(in); err != nil || uint64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, bad := range []string{"", "M", "-1G", "lots", "1e30T", "NaN"} {
		var b byteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted, = %d", bad, b)
		}
	}
}
