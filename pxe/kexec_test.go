package pxe

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// A node kexecs into exactly what its iPXE script would boot.
func TestKexecImageMatchesTheBootScript(t *testing.T) {
	s := newProfilesServer(t)
	mac, _ := net.ParseMAC("52:54:00:77:00:02") // node entry: profile rt
	img, err := s.KexecImage(mac)
	if err != nil {
		t.Fatal(err)
	}
	if img.Kernel != "http://10.77.0.1:8080/boot/vmlinuz-rt" || img.Initrd != "http://10.77.0.1:8080/boot/v2/rt.img" {
		t.Errorf("URLs %s and %s, want rt's kernel and initrd on the boot server", img.Kernel, img.Initrd)
	}
	if want := fileDigest(t, filepath.Join(s.cfg.BootDir, "vmlinuz-rt")); img.KernelSHA256 != want {
		t.Errorf("kernel sha256 %s, want %s", img.KernelSHA256, want)
	}
	if want := fileDigest(t, filepath.Join(s.cfg.BootDir, "v2/rt.img")); img.InitrdSHA256 != want {
		t.Errorf("initrd sha256 %s, want %s", img.InitrdSHA256, want)
	}
	script := renderScript("http://10.77.0.1:8080", mustProfile(t, s, mac), s.cfg.ExtraCmdline)
	kernelLine := strings.SplitN(script, "\n", 3)[1]
	_, scriptArgs, _ := strings.Cut(kernelLine, " initrd=rt.img ")
	if want := strings.ReplaceAll(scriptArgs, "${netX/mac:hexhyp}", "52-54-00-77-00-02"); img.Cmdline != want {
		t.Errorf("command line\n %q\nwant the script's\n %q", img.Cmdline, want)
	}
}

func mustProfile(t *testing.T, s *testServer, mac net.HardwareAddr) Profile {
	t.Helper()
	p, _ := s.http.policy.ProfileFor(mac)
	return p
}

// A boot file removed after the server started is an error, not a digest
// of nothing.
func TestKexecImageOfAMissingFile(t *testing.T) {
	s := newProfilesServer(t)
	if err := os.Remove(filepath.Join(s.cfg.BootDir, "vmlinuz-rt")); err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("52:54:00:77:00:02")
	if _, err := s.KexecImage(mac); err == nil || !strings.Contains(err.Error(), "vmlinuz-rt") {
		t.Fatalf("got %v, want an error naming vmlinuz-rt", err)
	}
	// Other profiles still work.
	other, _ := net.ParseMAC("52:54:00:77:00:01")
	if _, err := s.KexecImage(other); err != nil {
		t.Fatal(err)
	}
}
