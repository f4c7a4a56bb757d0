package bench

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A serial console as the node booted by ramfarm prints it.
const bootedSerial = "Press Ctrl-B for the iPXE command line...\n" +
	"[    0.094874] Kernel command line: initrd=ramfarm-node.cpio.zst console=ttyS0 ramfarm.dispatcher=10.78.0.1:7070 ramfarm.token=T ramfarm.profile=default BOOTIF=01-52-54-00-78-00-01\n" +
	"[    0.095497] Unknown kernel command line parameters \"BOOTIF=01-52-54-00-78-00-01\", will be passed to user space.\n"

// The dnsmasq side's script must give the node the very command line the
// ramfarm side's did.
func TestCmdlineCarriedOver(t *testing.T) {
	booted, err := bootedCmdline(bootedSerial)
	if err != nil {
		t.Fatal(err)
	}
	args, err := scriptArgs(booted)
	if err != nil {
		t.Fatal(err)
	}
	if want := "console=ttyS0 ramfarm.dispatcher=10.78.0.1:7070 ramfarm.token=T ramfarm.profile=default"; args != want {
		t.Fatalf("script arguments %q, want %q", args, want)
	}
	script := tftpBootScript("10.78.0.1", "vmlinuz", "ramfarm-node.cpio.zst", args)
	parsed, err := parseBootScript(script, net.HardwareAddr{0x52, 0x54, 0x00, 0x78, 0x00, 0x01})
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Cmdline != booted {
		t.Errorf("dnsmasq's script gives %q, ramfarm's node got %q", parsed.Cmdline, booted)
	}
}

func TestCmdlineNotFound(t *testing.T) {
	if _, err := bootedCmdline("iPXE 1.21.1\nNo more network devices\n"); err == nil {
		t.Error("a console without a kernel command line gave one")
	}
	if _, err := scriptArgs("console=ttyS0 ramfarm.token=T"); err == nil {
		t.Error("a command line without initrd= and BOOTIF= was taken for a script's")
	}
}

func TestDnsmasqBootFlags(t *testing.T) {
	flags := dnsmasqBootFlags("/srv/tftp", 200)
	for _, want := range []string{"--enable-tftp", "--tftp-root=/srv/tftp", "--tftp-max=200",
		"--dhcp-match=set:ipxe,175", "--dhcp-boot=tag:!ipxe,undionly.kpxe", "--dhcp-boot=tag:ipxe,boot.ipxe"} {
		if !slices.Contains(flags, want) {
			t.Errorf("flags %q lack %q", flags, want)
		}
	}
	// Never below dnsmasq's own default.
	if !slices.Contains(dnsmasqBootFlags("/srv/tftp", 1), "--tftp-max=50") {
		t.Errorf("one node lowered tftp-max below the default: %q", dnsmasqBootFlags("/srv/tftp", 1))
	}
}

func TestTFTPRoot(t *testing.T) {
	src := t.TempDir()
	img := bootImage{
		IPXE: filepath.Join(src, "undionly.kpxe"), Kernel: filepath.Join(src, "vmlinuz"),
		Initrd: filepath.Join(src, "initrd.gz"), Cmdline: "console=ttyS0",
	}
	for _, p := range []string{img.IPXE, img.Kernel, img.Initrd} {
		// Private on purpose: the copies must be readable all the same.
		if err := os.WriteFile(p, []byte("content of "+p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "dnsmasq")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	root, err := tftpRoot(dir, img, "10.78.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"undionly.kpxe", "vmlinuz", "initrd.gz", "boot.ipxe"} {
		info, err := os.Stat(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm()&0o004 == 0 {
			t.Errorf("%s is %v: dnsmasq reads it as nobody", name, info.Mode())
		}
	}
	script, _ := os.ReadFile(filepath.Join(root, "boot.ipxe"))
	got, err := parseBootScript(string(script), testMAC)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kernel.String() != "tftp://10.78.0.1/vmlinuz" || !strings.Contains(got.Cmdline, "console=ttyS0") {
		t.Errorf("boot.ipxe: %+v", got)
	}
}
