package pxe

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/pin/tftp/v3"
)

// Debian's layout: /usr/lib/ipxe/ipxe.efi is a symlink to /boot/ipxe.efi.
// The binary must be served through it, while no other name (a symlink out,
// a file the admin left there) is reachable.
func TestIPXEBinaryBehindASymlinkOutIsServed(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		elsewhere := filepath.Join(t.TempDir(), "ipxe.efi")
		if err := os.WriteFile(elsewhere, bytes.Repeat([]byte("E"), 3000), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(c.TFTPRoot, "ipxe.efi"))
		if err := os.Symlink(elsewhere, filepath.Join(c.TFTPRoot, "ipxe.efi")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(c.TFTPRoot, "notes.txt"), []byte("private"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	client, err := tftp.NewClient(startTFTP(t, s))
	if err != nil {
		t.Fatal(err)
	}
	transfer, err := client.Receive("ipxe.efi", "octet")
	if err != nil {
		t.Fatalf("ipxe.efi through its symlink: %v", err)
	}
	var got bytes.Buffer
	if _, err := transfer.WriteTo(&got); err != nil || got.Len() != 3000 {
		t.Fatalf("ipxe.efi: %d bytes, err %v; want the 3000-byte file behind the symlink", got.Len(), err)
	}
	if _, err := client.Receive("notes.txt", "octet"); err == nil {
		t.Fatal("a file that is not an iPXE binary was served")
	}
}

func TestLoadIPXEWantsAtLeastOneBinary(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := loadIPXE(t.TempDir(), log); err == nil {
		t.Fatal("an empty iPXE directory was accepted")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "undionly.kpxe"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := loadIPXE(dir, log)
	if err != nil || len(files) != 1 {
		t.Fatalf("one binary: %v, %d files; want it loaded, the others only warned about", err, len(files))
	}
}
