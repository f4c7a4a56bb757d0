package kmod

import "testing"

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"pci:v00008086d0000100Esv*sd*bc*sc*i*", "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00", true},
		{"pci:v00008086d0000100Esv*sd*bc*sc*i*", "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00", false},
		{"virtio:d00000001v*", "virtio:d00000001v00001AF4", true},
		{"virtio:d00000001v*", "virtio:d00000002v00001AF4", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"exactly", "exact", false},
		{"", "", true},
		{"*", "", true},
		{"*", "anything/with/slashes", true},
		{"of:N*T*Cacme,a/b*", "of:NfooTbarCacme,a/bC", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*b*b*", "abxbz", true},
		{"*b*b*", "abxz", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"usb:v13FDp3940d0[0-2]*dc*", "usb:v13FDp3940d01ffdc00", true},
		{"usb:v13FDp3940d0[0-2]*dc*", "usb:v13FDp3940d03ffdc00", false},
		{"usb:v1645p0007d013[0-3]dc*", "usb:v1645p0007d0133dc09", true},
		{"x[!0-2]", "x3", true},
		{"x[!0-2]", "x1", false},
		{"x[^a]", "xb", true},
		{"x[]a]", "x]", true},
		{"x[]a]", "xa", true},
		{"x[]a]", "xb", false},
		{"x[a-]", "x-", true},
		{"x[", "x[", true},
		{"x[ab", "x[ab", true},
		{"x[ab", "xa", false},
	}
	for _, tt := range tests {
		if got := match(tt.pattern, tt.name); got != tt.want {
			t.Errorf("match(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}
