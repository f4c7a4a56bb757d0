package qemutests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/ramfarm/ramfarm/initramfs"
	"github.com/ramfarm/ramfarm/qemu-tests/cluster"
	"github.com/ramfarm/ramfarm/qemu-tests/vm"
)

// TestUEFIBoot boots a UEFI machine (OVMF, virtio-net, no option ROM) over
// the network the way a UEFI server in a rack boots: OVMF's own PXE client
// asks DHCP as EFI x64 firmware (option 93 = 7), gets ipxe.efi over TFTP,
// that iPXE asks DHCP again and fetches the script, kernel and initramfs
// over HTTP, and the kernel starts through its EFI stub. The kernel is the
// custom one (make kernel): it has CONFIG_EFI_STUB, and its drivers are
// built in, so the image's Debian modules are simply not loaded. The test
// checks each step from the wire and the dispatcher's log, then runs a task
// on the node.
func TestUEFIBoot(t *testing.T) {
	env := prepare(t)
	kernel := filepath.Base(initramfs.CustomKernelPath)
	if _, err := os.Stat(filepath.Join(env.images, kernel)); err != nil {
		t.Fatalf("custom kernel missing (%v): run `make kernel` first", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	o := bootOneNode(t, ctx, cluster.Config{
		Name: fmt.Sprintf("rfuefi%d", os.Getpid()%100000), RamfarmBin: env.ramfarm,
		ImagesDir: env.images, Kernel: kernel, WorkDir: t.TempDir(),
		Nodes: []cluster.NodeSpec{{CPUs: 1, MemoryMB: 512, Firmware: vm.UEFI}},
	})
	assertUEFIPXEPath(t, o.packets(t), cluster.MAC(0).String())
	assertBootedOverPXE(t, o.c, 0, o.node)
	tftpBytes := assertIPXEBeforeScript(t, o.c.DispatcherLog(), o.node.IP, kernel)
	serial := o.c.Machine(0).Log()
	for _, want := range []string{
		">>Start PXE over IPv4",    // OVMF's PXE boot option, not an iPXE ROM
		"NBP filename is ipxe.efi", // OVMF read the file name from our offer
		"EFI stub: ",               // the kernel started as an EFI application
		"efi: EFI v",               // and found the EFI system table
	} {
		if !strings.Contains(serial, want) {
			t.Errorf("node serial console lacks %q", want)
		}
	}
	o.runOneTask(t, ctx)
	o.tearDown(t)
	if !t.Failed() {
		fmt.Printf("uefi: OVMF PXE -> ipxe.efi over TFTP (%d bytes) -> iPXE -> %s over HTTP; registered %.1f s after power-on\n",
			tftpBytes, kernel, o.bootSeconds)
	}
}

// assertUEFIPXEPath checks the DHCP conversation of the node with MAC mac:
// first OVMF asks as EFI x64 PXE firmware and is pointed at ipxe.efi on our
// TFTP server, then iPXE asks and is pointed at the script.
func assertUEFIPXEPath(t *testing.T, packets []vm.DHCPPacket, mac string) {
	t.Helper()
	firmwareAsked, toIPXE, ipxeAsked, toScript := false, false, false, false
	firmwareXIDs := map[dhcpv4.TransactionID]bool{}
	for _, p := range packets {
		m := p.Msg
		if m.ClientHWAddr.String() != mac {
			continue
		}
		isIPXE := slices.Contains(m.UserClass(), "iPXE")
		switch m.OpCode {
		case dhcpv4.OpcodeBootRequest:
			archs := m.ClientArch()
			efi64 := len(archs) == 1 && archs[0] == 7 && strings.HasPrefix(m.ClassIdentifier(), "PXEClient:Arch:00007")
			switch {
			case efi64 && !isIPXE && !ipxeAsked:
				firmwareAsked = true
				firmwareXIDs[m.TransactionID] = true
			case isIPXE && toIPXE:
				ipxeAsked = true
			}
		case dhcpv4.OpcodeBootReply:
			file := m.BootFileName
			switch {
			case firmwareXIDs[m.TransactionID] && file == "ipxe.efi" && m.ServerIPAddr.String() == "10.77.0.1":
				toIPXE = true
			case ipxeAsked && strings.Contains(file, "/boot.ipxe"):
				toScript = true
			}
		}
	}
	for _, step := range []struct {
		done bool
		what string
	}{
		{firmwareAsked, "OVMF asked DHCP as EFI x64 PXE firmware (option 93 = 7, PXEClient:Arch:00007, no iPXE user class)"},
		{toIPXE, "a reply to OVMF named ipxe.efi on next server 10.77.0.1"},
		{ipxeAsked, "iPXE (user class iPXE) asked DHCP after that"},
		{toScript, "a reply to iPXE named the boot.ipxe script"},
	} {
		if !step.done {
			t.Errorf("node %s: on the wire, no sign that %s", mac, step.what)
		}
	}
	if t.Failed() {
		for _, p := range packets {
			t.Logf("%s -> %s: %s", p.Src, p.Dst, p.Msg.Summary())
		}
	}
}

// assertIPXEBeforeScript checks the dispatcher's log: the TFTP transfer of
// ipxe.efi to the node completed before the node fetched boot.ipxe and the
// kernel over HTTP. It returns the bytes sent over TFTP.
func assertIPXEBeforeScript(t *testing.T, log, nodeIP, kernel string) int {
	t.Helper()
	peer := "peer=" + nodeIP + ":"
	lines := strings.Split(log, "\n")
	at := func(words ...string) int {
		return slices.IndexFunc(lines, func(l string) bool {
			for _, w := range words {
				if !strings.Contains(l, w) {
					return false
				}
			}
			return true
		})
	}
	tftp := at(`msg="TFTP transfer done"`, "file=ipxe.efi", peer)
	script := at(`msg="HTTP request"`, "path=/boot.ipxe", peer)
	kern := at(`msg="HTTP request"`, "path=/boot/"+kernel+" ", peer)
	switch {
	case tftp < 0:
		t.Errorf("dispatcher log: no completed TFTP transfer of ipxe.efi to %s", nodeIP)
	case script < tftp || kern < script:
		t.Errorf("dispatcher log: want TFTP ipxe.efi (line %d) < HTTP boot.ipxe (line %d) < HTTP %s (line %d)",
			tftp, script, kernel, kern)
	}
	if tftp < 0 {
		return 0
	}
	var n int
	for _, f := range strings.Fields(lines[tftp]) {
		if v, ok := strings.CutPrefix(f, "bytes="); ok {
			fmt.Sscan(v, &n)
		}
	}
	return n
}
