package vm

import (
	"fmt"
	"os"
	"path/filepath"
)

// Firmware is what a node runs before the network boot.
type Firmware string

const (
	// BIOS is SeaBIOS with the iPXE option ROM QEMU loads for the NIC: the
	// ROM is iPXE already, so the node asks for the iPXE script at once.
	BIOS Firmware = "bios"

	// UEFI is OVMF (Debian's ovmf package) with the NIC's option ROM
	// disabled, so the firmware's own PXE client boots: it sends DHCP
	// option 93 = 7 (EFI x64), fetches ipxe.efi over TFTP and runs it, and
	// that iPXE asks for the script. This is the path a UEFI server in a
	// rack takes; QEMU's ROMs carry an EFI iPXE driver that would skip it.
	UEFI Firmware = "uefi"
)

// Debian's OVMF, split into read-only code and a variable store template.
// The split image rather than the combined /usr/share/ovmf/OVMF.fd: both
// boot under TCG, but the split one gives each node its own writable
// variable store, as a board's NVRAM, and keeps the code read-only, which
// is how libvirt runs it too. OVMF_CODE_4M.fd is the build without Secure
// Boot, so it needs neither q35 nor SMM.
var (
	ovmfCode     = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVarsTmpl = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// What OVMF 2022.11 does with a virtio NIC, watched on its serial console
// under TCG (no disk):
//
//   - It boots Boot0001 "UEFI PXEv4" about 6 s after power-on, then
//     "UEFI PXEv6", "UEFI HTTPv4", "UEFI HTTPv6" and last the EFI shell,
//     where it stays. With nobody answering, PXEv4 gives up after about
//     75 s (PXE-E18) and HTTPv4 after another 80 s; PXEv6 took 60 s. With
//     the fw_cfg below only PXEv4, HTTPv4 and the shell are left. The
//     order comes from bootindex; -boot is SeaBIOS's.
//   - It asks for tsize first and aborts that transfer (TFTP error 8),
//     then fetches the file: "NBP filesize is ... Bytes", "NBP file
//     downloaded successfully".
//   - Its HTTP boot entry asks our DHCP server as "HTTPClient" and gets
//     http://server:8080/ipxe/ipxe.efi.
//   - Debian's ipxe.efi (2019) then drives the virtio NIC through OVMF's
//     SNP ("net0: ... using SNP on SNP-0000:00:03.0"), not its own driver.
//   - With the NIC's option ROM left in, OVMF starts QEMU's EFI iPXE at
//     once: no DHCP as plain firmware, no ipxe.efi over TFTP.
//
// The IPv6 stack is switched off through fw_cfg so that a failed IPv4 boot
// fails in minutes rather than after the IPv6 entries' timeouts as well;
// nodes here have no IPv6 boot server.
var ovmfNoIPv6 = []string{
	"-fw_cfg", "name=opt/org.tianocore/IPv6Support,string=no",
	"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no",
}

// firmwareArgs returns the QEMU arguments for cfg's firmware and NIC. For
// UEFI it writes the node's variable store into cfg.WorkDir.
func firmwareArgs(cfg *NodeConfig) ([]string, error) {
	nic := "-device"
	switch cfg.Firmware {
	case "", BIOS:
		cfg.Firmware = BIOS
		if cfg.NIC == "" {
			cfg.NIC = "e1000"
		}
		// SeaBIOS honours -boot: the NIC's ROM first, and no disk.
		return []string{"-boot", "n", nic, cfg.NIC + ",netdev=net0,mac=" + cfg.MAC.String()}, nil
	case UEFI:
		if cfg.NIC == "" {
			cfg.NIC = "virtio-net-pci"
		}
		if cfg.NIC != "virtio-net-pci" {
			// OVMF carries a UEFI driver for virtio-net only; other
			// NICs boot only through their option ROM, which is the
			// iPXE this firmware choice is meant to avoid.
			return nil, fmt.Errorf("vm: UEFI node %s: NIC %q has no OVMF driver, use virtio-net-pci", cfg.Name, cfg.NIC)
		}
		if cfg.WorkDir == "" {
			return nil, fmt.Errorf("vm: UEFI node %s needs WorkDir for its variable store", cfg.Name)
		}
		vars := filepath.Join(cfg.WorkDir, cfg.Name+"-OVMF_VARS.fd")
		if err := copyFile(ovmfVarsTmpl, vars); err != nil {
			return nil, fmt.Errorf("vm: UEFI variable store for %s (apt-get install ovmf): %w", cfg.Name, err)
		}
		args := []string{
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + ovmfCode,
			"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
			// romfile= (empty) loads no option ROM; bootindex puts the
			// NIC's entries first in OVMF's boot order.
			nic, cfg.NIC + ",netdev=net0,mac=" + cfg.MAC.String() + ",romfile=,bootindex=1",
		}
		return append(args, ovmfNoIPv6...), nil
	default:
		return nil, fmt.Errorf("vm: node %s: unknown firmware %q (want %q or %q)", cfg.Name, cfg.Firmware, BIOS, UEFI)
	}
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}
