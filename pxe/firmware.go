package pxe

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// A node reaches its kernel in one of three ways:
//
//	PXE ROM (BIOS or UEFI) --TFTP--> iPXE binary --DHCP as iPXE--> boot.ipxe --HTTP--> kernel, initrd
//	UEFI HTTP Boot         --HTTP--> ipxe.efi    --DHCP as iPXE--> boot.ipxe --HTTP--> kernel, initrd
//	iPXE ROM                                     --DHCP as iPXE--> boot.ipxe --HTTP--> kernel, initrd
//
// (QEMU's NIC option ROMs are iPXE, so its guests take the last, short way.)
// This file reads which of them a DHCP request comes from and picks the file
// the reply points it to.

// Prefixes of option 60 (vendor class) that mark netboot firmware. The rest of
// the value ("PXEClient:Arch:00007:UNDI:003016") repeats option 93 and the
// UNDI version, so only the prefix matters.
const (
	classPXE  = "PXEClient"
	classHTTP = "HTTPClient"
)

// firmware is what a DHCP request says about the program that sent it.
type firmware struct {
	mac         net.HardwareAddr // chaddr: the NIC it boots from
	ipxe        bool             // option 77 (user class) holds "iPXE"
	vendorClass string           // classPXE, classHTTP or "" (a plain DHCP client)
	arch        iana.Arch
	archKnown   bool // option 93 (client architecture) was present and well formed
}

func identifyFirmware(m *dhcpv4.DHCPv4) firmware {
	fw := firmware{
		mac: m.ClientHWAddr,
		// iPXE sends a bare "iPXE" rather than RFC 3004's length-prefixed
		// list; UserClass falls back to the raw string for exactly that.
		// Builds configured without the user class still send option 175
		// (their feature flags), which is how dnsmasq's documented
		// dhcp-match=set:ipxe,175 tells iPXE apart: either one will do.
		ipxe: slices.Contains(m.UserClass(), "iPXE") || m.Options.Has(dhcpv4.OptionEtherboot),
	}
	switch class := m.ClassIdentifier(); {
	case strings.HasPrefix(class, classPXE):
		fw.vendorClass = classPXE
	case strings.HasPrefix(class, classHTTP):
		fw.vendorClass = classHTTP
	}
	// Option 93 may list several architectures; firmware sends one.
	if archs := m.ClientArch(); len(archs) > 0 {
		fw.arch, fw.archKnown = archs[0], true
	}
	return fw
}

func (fw firmware) archName() string {
	if !fw.archKnown {
		return "none sent"
	}
	return fmt.Sprintf("%d (%v)", uint16(fw.arch), fw.arch)
}

// tftpBinaries are the iPXE builds PXE ROMs fetch over TFTP, by option 93.
var tftpBinaries = map[iana.Arch]string{
	// undionly.kpxe drives the NIC through the PXE ROM's own UNDI driver,
	// so it works on every NIC that could PXE-boot in the first place.
	iana.INTEL_X86PC: "undionly.kpxe",

	// ipxe.efi rather than snponly.efi: ipxe.efi carries iPXE's own NIC
	// drivers as well as the firmware-SNP fallback, snponly.efi only the
	// fallback. Which one it uses is iPXE's choice: Debian's 2019 build,
	// under OVMF with a virtio NIC, drove the NIC through OVMF's SNP
	// (seen in TestUEFIBoot), so in practice both lean on the firmware's
	// network stack; ipxe.efi keeps the native drivers for boards whose
	// SNP is broken. snponly.efi (also served) is the one to try when
	// the native driver handles a NIC badly.
	iana.EFI_X86_64: "ipxe.efi",

	// RFC 4578 printed 7 and 9 the other way round from the IANA registry
	// (9 should be EFI byte code, which no real firmware runs), so x86-64
	// firmware written from the RFC sends 9.
	iana.EFI_BC: "ipxe.efi",
}

// httpBinaries are the iPXE builds UEFI HTTP Boot fetches, by option 93.
var httpBinaries = map[iana.Arch]string{
	iana.EFI_X86_64_HTTP: "ipxe.efi",
}

// Debian ships no 32-bit UEFI or ARM build of iPXE, so EFI IA32 (6) and
// ARM64 (11, 19) clients get a plain lease and a logged reason.

// bootFiles says where the server keeps what firmware loads.
type bootFiles struct {
	tftpServer netip.Addr // next-server for TFTP clients
	scriptURL  string     // the iPXE script, http://server:port/boot.ipxe (see scriptURLFor)
	ipxeURL    string     // iPXE binaries over HTTP, http://server:port/ipxe/ (UEFI HTTP Boot)
}

// bootPlan is what a reply tells a client to load next. The zero plan means
// no boot options at all.
type bootPlan struct {
	nextServer  netip.Addr // siaddr; unset when file is a URL
	file        string     // file field and option 67
	vendorClass string     // option 60 echoed back
	ipxe        bool       // add iPXE's encapsulated options (175)
}

// planFor picks what fw boots next. ok is false for netboot firmware we have
// no iPXE build for; it then gets an address and nothing to boot.
func (b bootFiles) planFor(fw firmware) (plan bootPlan, ok bool) {
	switch {
	case fw.ipxe:
		// Checked before the vendor class, which iPXE also sends as
		// "PXEClient": offering iPXE an iPXE binary again would make it
		// chainload itself forever.
		return bootPlan{file: b.scriptURLFor(fw.mac), vendorClass: fw.vendorClass, ipxe: true}, true
	case fw.vendorClass == classHTTP:
		name, found := binaryFor(httpBinaries, fw)
		if !found {
			return bootPlan{}, false
		}
		// UEFI HTTP Boot ignores offers that do not say "HTTPClient" back,
		// and wants the file as a full URL; it cannot follow redirects.
		return bootPlan{file: b.ipxeURL + name, vendorClass: classHTTP}, true
	case fw.vendorClass == classPXE:
		name, found := binaryFor(tftpBinaries, fw)
		if !found {
			return bootPlan{}, false
		}
		return bootPlan{nextServer: b.tftpServer, file: name, vendorClass: classPXE}, true
	default:
		// No option 60 and no option 77: an operating system's DHCP
		// client (the booted node's own, for one). An address is all it
		// needs.
		return bootPlan{}, true
	}
}

// scriptURLFor is the URL of the iPXE script for the node with this MAC:
// the HTTP server picks the node's boot profile by it. The MAC goes in
// hex with hyphens, as in BOOTIF: digits, letters and '-' survive every
// firmware's URL handling, where ':' may not.
func (b bootFiles) scriptURLFor(mac net.HardwareAddr) string {
	if len(mac) == 0 {
		return b.scriptURL
	}
	return b.scriptURL + "?mac=" + strings.ReplaceAll(mac.String(), ":", "-")
}

func binaryFor(binaries map[iana.Arch]string, fw firmware) (string, bool) {
	if !fw.archKnown {
		return "", false
	}
	name, ok := binaries[fw.arch]
	return name, ok
}
