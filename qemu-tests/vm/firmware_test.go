package vm

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestFirmwareArgs(t *testing.T) {
	dir := t.TempDir()
	base := NodeConfig{Name: "n0", Net: &Net{cfg: NetConfig{Name: "rf-args"}}, Tap: "tap0", MAC: testMAC(0), SerialLog: "s.log"}

	bios := base
	args, err := qemuArgs(&bios)
	if err != nil {
		t.Fatal(err)
	}
	if bios.Firmware != BIOS || bios.NIC != "e1000" || !hasArgs(args, "-boot", "n") ||
		!hasArgs(args, "-device", "e1000,netdev=net0,mac="+testMAC(0).String()) {
		t.Errorf("BIOS node: firmware %q NIC %q args %q", bios.Firmware, bios.NIC, args)
	}

	uefi := base
	uefi.Firmware, uefi.WorkDir = UEFI, dir
	if args, err = qemuArgs(&uefi); err != nil {
		t.Fatal(err)
	}
	vars := filepath.Join(dir, "n0-OVMF_VARS.fd")
	for _, want := range [][]string{
		{"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + ovmfCode},
		{"-drive", "if=pflash,format=raw,unit=1,file=" + vars},
		// No option ROM: OVMF's own PXE client must do the boot.
		{"-device", "virtio-net-pci,netdev=net0,mac=" + testMAC(0).String() + ",romfile=,bootindex=1"},
		{"-fw_cfg", "name=opt/org.tianocore/IPv6Support,string=no"},
	} {
		if !hasArgs(args, want...) {
			t.Errorf("UEFI node: no %q in %q", want, args)
		}
	}
	if hasArgs(args, "-boot", "n") {
		t.Errorf("UEFI node has SeaBIOS's -boot n: %q", args)
	}
	tmpl, _ := os.ReadFile(ovmfVarsTmpl)
	copied, err := os.ReadFile(vars)
	if err != nil || len(tmpl) == 0 || string(copied) != string(tmpl) {
		t.Errorf("variable store %s: %v, %d bytes, want a copy of %s (%d bytes)", vars, err, len(copied), ovmfVarsTmpl, len(tmpl))
	}

	for _, c := range []struct {
		edit func(*NodeConfig)
		want string
	}{
		{func(c *NodeConfig) { c.Firmware, c.WorkDir, c.NIC = UEFI, dir, "e1000" }, "no OVMF driver"},
		{func(c *NodeConfig) { c.Firmware = UEFI }, "needs WorkDir"},
		{func(c *NodeConfig) { c.Firmware = "coreboot" }, "unknown firmware"},
	} {
		cfg := base
		c.edit(&cfg)
		if _, err := qemuArgs(&cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", cfg, err, c.want)
		}
	}
}

// hasArgs reports whether want appears in args as consecutive arguments.
func hasArgs(args []string, want ...string) bool {
	for i := range args {
		if i+len(want) <= len(args) && slices.Equal(args[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

// TestUEFINodeAsksAsEFIFirmware powers on a UEFI node with nobody serving
// DHCP and checks that OVMF itself, not an iPXE ROM, asks for a boot file as
// x86-64 UEFI firmware: option 93 = 7 and the matching PXEClient class.
func TestUEFINodeAsksAsEFIFirmware(t *testing.T) {
	requireHost(t)
	n := newTestNet(t)
	if err := n.AddTap(testTap(0)); err != nil {
		t.Fatal(err)
	}
	watch, err := n.WatchDHCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Close() })
	node, err := StartNode(context.Background(), NodeConfig{
		Name: "uefi0", Net: n, Tap: testTap(0), MAC: testMAC(0), Firmware: UEFI,
		WorkDir: t.TempDir(), SerialLog: filepath.Join(t.TempDir(), "serial.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Stop() })

	var discover *dhcpv4.DHCPv4
	for deadline := time.Now().Add(ipxeTimeout); discover == nil; {
		packets, err := watch.Packets()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range packets {
			if p.Msg.ClientHWAddr.String() == testMAC(0).String() && p.Msg.MessageType() == dhcpv4.MessageTypeDiscover {
				discover = p.Msg
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no DHCPDISCOVER from %s within %v; serial console:\n%s", testMAC(0), ipxeTimeout, node.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if archs := discover.ClientArch(); len(archs) != 1 || archs[0] != 7 {
		t.Errorf("option 93 = %v, want [7] (EFI x64)", archs)
	}
	if class := discover.ClassIdentifier(); !strings.HasPrefix(class, "PXEClient:Arch:00007") {
		t.Errorf("option 60 = %q, want PXEClient:Arch:00007...", class)
	}
	if uc := discover.UserClass(); slices.Contains(uc, "iPXE") {
		t.Errorf("user class %q: an iPXE ROM asked, not OVMF", uc)
	}
	waitForLog(t, node, ipxeTimeout, ">>Start PXE over IPv4")
	requireQEMUInNamespace(t, node, n)

	if err := node.Stop(); err != nil {
		t.Error(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	requireNoLeftovers(t, n.cfg.Name)
}
