package pxe

import "github.com/insomniacslk/dhcp/dhcpv4"

var (
	// Option 43 for replies that say "PXEClient": PXE ROMs read their
	// options from it, and discovery control (sub-option 6) = 8 tells
	// them to load the file named in this very reply instead of first
	// looking for PXE boot servers on port 4011.
	pxeVendorOptions = encapsulate(dhcpv4.Options{6: {8}})

	// Option 175 for iPXE: no-pxedhcp (176) = 1. iPXE takes any offer
	// that says "PXEClient" for a ProxyDHCP offer as well, and would
	// follow our ACK with a ProxyDHCP request to port 4011 that nobody
	// answers; it also waits up to 2 s for ProxyDHCP offers. We are the
	// only DHCP server on the link, so both are pure delay.
	ipxeOptions = encapsulate(dhcpv4.Options{176: {1}})
)

// encapsulate encodes sub-options as the value of an encapsulating option
// (43, 175). Options.ToBytes writes no End marker, which firmware parsers
// expect, so it is added here.
func encapsulate(sub dhcpv4.Options) []byte {
	return append(sub.ToBytes(), dhcpv4.OptionEnd.Code())
}

func (h *dhcpHandler) addBootOptions(m *dhcpv4.DHCPv4, req *request) {
	fw := identifyFirmware(req.msg)
	plan, ok := h.boot.planFor(fw)
	if !ok {
		h.log.Warn("no iPXE binary for arch", "mac", req.mac.String(), "arch", fw.archName(), "vendor_class", fw.vendorClass)
		return
	}
	if plan.nextServer.IsValid() {
		m.ServerIPAddr = plan.nextServer.AsSlice()
	}
	if plan.file != "" {
		// Both places: old PXE ROMs read only the BOOTP file field,
		// newer firmware prefers option 67.
		m.BootFileName = plan.file
		m.UpdateOption(dhcpv4.OptBootFileName(plan.file))
	}
	if plan.vendorClass != "" {
		m.UpdateOption(dhcpv4.OptClassIdentifier(plan.vendorClass))
	}
	if plan.vendorClass == classPXE {
		m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, pxeVendorOptions))
	}
	if plan.ipxe {
		// 175 is the Etherboot option space, which iPXE inherited.
		m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionEtherboot, ipxeOptions))
	}
}
