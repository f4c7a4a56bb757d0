package protocol

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func validBootImage() *BootImage {
	return &BootImage{
		Kernel: "http://10.0.0.1:8080/boot/vmlinuz", KernelSHA256: strings.Repeat("ab", 32),
		Initrd: "http://10.0.0.1:8080/boot/node.cpio.zst", InitrdSHA256: strings.Repeat("0f", 32),
		Cmdline: "console=ttyS0 ramfarm.profile=default BOOTIF=01-52-54-00-00-00-01",
	}
}

func TestKexecCommandRoundTrips(t *testing.T) {
	m := &Command{Op: OpKexec, Boot: validBootImage()}
	if got := roundTrip(t, m); !reflect.DeepEqual(got, m) {
		t.Fatalf("got %+v, want %+v", got, m)
	}
}

func TestKexecCommandRejectsBadBootImages(t *testing.T) {
	cases := map[string]func(b *BootImage){
		"file URL":              func(b *BootImage) { b.Kernel = "file:///etc/shadow" },
		"URL without host":      func(b *BootImage) { b.Initrd = "http:///boot/x" },
		"https URL":             func(b *BootImage) { b.Kernel = "https://10.0.0.1/boot/vmlinuz" },
		"short digest":          func(b *BootImage) { b.KernelSHA256 = "abcd" },
		"uppercase digest":      func(b *BootImage) { b.InitrdSHA256 = strings.Repeat("AB", 32) },
		"not hex":               func(b *BootImage) { b.KernelSHA256 = strings.Repeat("zz", 32) },
		"command line too long": func(b *BootImage) { b.Cmdline = strings.Repeat("x", MaxCmdline+1) },
	}
	for name, spoil := range cases {
		t.Run(name, func(t *testing.T) {
			b := validBootImage()
			spoil(b)
			var buf bytes.Buffer
			// Encode without validation by hand: Send refuses nothing here.
			if err := NewConn(&buf).Send(&Command{Op: OpKexec, Boot: b}); err != nil {
				t.Fatal(err)
			}
			_, err := NewConn(&buf).Receive()
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
	var buf bytes.Buffer
	NewConn(&buf).Send(&Command{Op: OpKexec})
	if _, err := NewConn(&buf).Receive(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("kexec without a boot image: got %v, want ErrMalformed", err)
	}
}
