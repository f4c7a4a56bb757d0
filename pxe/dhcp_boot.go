package pxe

import (
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

var (
	// Option 43 for replies that say "PXEClient": PXE ROMs read their
	// options from it, and discovery control (sub-option 6) = 8 tells
	// them to load the file named in this very reply instead of first
	// looking for PXE boot servers on port 4011.
	pxeVendorOptions = encapsulate(dhcpv4.Options{6: {8}})

	// Option 175 for iPXE from a full server: no-pxedhcp (176) = 1.
	// iPXE takes any offer that says "PXEClient" for a ProxyDHCP offer as
	// well, and would follow our ACK with a ProxyDHCP request to port
	// 4011; it also waits up to 2 s for ProxyDHCP offers. A full server
	// is the only DHCP server on the link, so both are pure delay.
	ipxeNoProxyDHCP = encapsulate(dhcpv4.Options{176: {1}})

	// Option 175 for iPXE from a ProxyDHCP server: priority (1) = 1. Of
	// the ProxyDHCP offers it sees, iPXE keeps the one of highest
	// priority, so ours wins over a "PXEClient" offer that a site server
	// configured for some other boot service may also send, whichever
	// comes first. No no-pxedhcp: the ProxyDHCP exchange is the point.
	ipxeProxyPriority = encapsulate(dhcpv4.Options{1: {1}})
)

// encapsulate encodes sub-options as the value of an encapsulating option
// (43, 175). Options.ToBytes writes no End marker, which firmware parsers
// expect, so it is added here.
func encapsulate(sub dhcpv4.Options) []byte {
	return append(sub.ToBytes(), dhcpv4.OptionEnd.Code())
}

// bootOptions is what a reply tells a client's firmware: the plan, and
// the PXE (43) and iPXE (175) encapsulated options to add. Both DHCP modes
// build it with bootFiles.optionsFor and write it with addTo; only a
// handful of choices differ between them, all in optionsFor.
type bootOptions struct {
	bootPlan
	pxeOptions  bool   // option 43: discovery control = 8
	ipxeOptions []byte // option 175's value; nil: no option 175
}

// optionsFor picks what fw boots next and how a server in mode says so. ok
// is false for netboot firmware we have no iPXE build for.
func (b bootFiles) optionsFor(fw firmware, mode DHCPMode) (o bootOptions, ok bool) {
	plan, ok := b.planFor(fw)
	if !ok {
		return bootOptions{}, false
	}
	o = bootOptions{bootPlan: plan, pxeOptions: plan.vendorClass == classPXE}
	if mode != DHCPProxy || plan.file == "" {
		if plan.ipxe {
			o.ipxeOptions = ipxeNoProxyDHCP
		}
		return o, true
	}
	// A ProxyDHCP reply is told from the address server's by option 60
	// "PXEClient" (or "HTTPClient" for UEFI HTTP Boot): iPXE checks for
	// exactly that, whatever it sent itself.
	if fw.ipxe {
		o.vendorClass = classPXE
	}
	// Boot information in a ProxyDHCP reply counts only with both siaddr
	// and a boot file: iPXE (dhcp_has_pxeopts) ignores a 4011 answer
	// without siaddr, and asks on 4011 when the offer lacks it. With it,
	// iPXE boots from the offer at once. A URL ignores siaddr anyway.
	o.nextServer = b.tftpServer
	// UEFI PXE (EDK2 and its kin) refuses many ProxyDHCP offers that
	// carry option 43 and a boot file; without option 43 it treats ours
	// as a "BINL" offer and asks again on port 4011, which every UEFI
	// build does reliably. BIOS PXE ROMs keep option 43: discovery
	// control 8 has them load the file at once.
	o.pxeOptions = o.pxeOptions && !fw.isUEFIPXE()
	if plan.ipxe {
		o.ipxeOptions = ipxeProxyPriority
	}
	return o, true
}

// isUEFIPXE reports whether fw is a UEFI firmware's own PXE client, not
// iPXE and not a BIOS PXE ROM.
func (fw firmware) isUEFIPXE() bool {
	return !fw.ipxe && fw.vendorClass == classPXE && fw.archKnown && fw.arch != iana.INTEL_X86PC
}

// netboot reports whether fw is firmware that boots from the network
// (option 60 PXEClient or HTTPClient, or iPXE's option 77), rather than
// an operating system's DHCP client.
func (fw firmware) netboot() bool {
	return fw.ipxe || fw.vendorClass != ""
}

// addTo writes o into reply m.
func (o bootOptions) addTo(m *dhcpv4.DHCPv4) {
	if o.nextServer.IsValid() {
		m.ServerIPAddr = o.nextServer.AsSlice()
	}
	if o.file != "" {
		// Both places: old PXE ROMs read only the BOOTP file field,
		// newer firmware prefers option 67.
		m.BootFileName = o.file
		m.UpdateOption(dhcpv4.OptBootFileName(o.file))
	}
	if o.vendorClass != "" {
		m.UpdateOption(dhcpv4.OptClassIdentifier(o.vendorClass))
	}
	if o.pxeOptions {
		m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, pxeVendorOptions))
	}
	if o.ipxeOptions != nil {
		// 175 is the Etherboot option space, which iPXE inherited.
		m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionEtherboot, o.ipxeOptions))
	}
}

// addBootOptions adds to a full server's OFFER or ACK what the client's
// firmware should boot next. Netboot firmware we have no iPXE build for
// still gets its lease, so that the operator sees the node and the warning.
func (h *dhcpHandler) addBootOptions(m *dhcpv4.DHCPv4, req *request) {
	fw := identifyFirmware(req.msg)
	o, ok := h.boot.optionsFor(fw, DHCPFull)
	if !ok {
		h.log.Warn("no iPXE binary for arch", "mac", req.mac.String(), "arch", fw.archName(), "vendor_class", fw.vendorClass)
		return
	}
	o.addTo(m)
}
