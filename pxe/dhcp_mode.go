package pxe

import "fmt"

// DHCPMode is how the server takes part in DHCP on its network.
type DHCPMode uint8

const (
	// DHCPFull: the server is the network's DHCP server. It hands out the
	// addresses (Ranges, Reservations, RelaySubnets) and tells netboot
	// firmware what to boot in the same replies.
	DHCPFull DHCPMode = iota
	// DHCPProxy: another DHCP server owns the addresses, and this one is a
	// ProxyDHCP server (PXE specification 2.1): it answers only netboot
	// firmware, only with what to boot, on port 67 beside the other
	// server's offer, and on port 4011 to firmware that asks there. It
	// hands out no address and keeps no leases.
	DHCPProxy
	numDHCPModes
)

var dhcpModeNames = [numDHCPModes]string{DHCPFull: "full", DHCPProxy: "proxy"}

func (m DHCPMode) String() string {
	if m < numDHCPModes {
		return dhcpModeNames[m]
	}
	return fmt.Sprintf("DHCPMode(%d)", uint8(m))
}

// Set parses "full" or "proxy", so that a DHCPMode serves as a flag.Value.
func (m *DHCPMode) Set(s string) error {
	for mode, name := range dhcpModeNames {
		if s == name {
			*m = DHCPMode(mode)
			return nil
		}
	}
	return fmt.Errorf("DHCP mode %q: want full or proxy", s)
}

// checkProxyPlan refuses the settings a ProxyDHCP server has no use for:
// it hands out no addresses, so ranges, reservations, relay subnets,
// router and DNS servers would be silently ignored, and whoever set them
// expects something that will not happen. Leases is left alone: a
// LeaseStore holds nothing in proxy mode, and the dispatcher always
// passes one.
func (c *Config) checkProxyPlan(p *problems) {
	const why = "in proxy mode: the DHCP server that owns the addresses hands those out"
	p.check(len(c.Ranges) == 0, "Ranges given %s", why)
	p.check(len(c.Reservations) == 0, "Reservations given %s", why)
	p.check(len(c.RelaySubnets) == 0, "RelaySubnets given %s", why)
	p.check(!c.Router.IsValid(), "Router given %s", why)
	p.check(len(c.DNS) == 0, "DNS given %s", why)
}
