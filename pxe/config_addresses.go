package pxe

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Range is a block of addresses the server hands out, Start to End
// inclusive.
type Range struct{ Start, End netip.Addr }

func (r Range) String() string { return r.Start.String() + "-" + r.End.String() }

func (r Range) contains(a netip.Addr) bool {
	return a.IsValid() && r.Start.Compare(a) <= 0 && a.Compare(r.End) <= 0
}

func (r Range) overlaps(o Range) bool {
	return r.Start.Compare(o.End) <= 0 && o.Start.Compare(r.End) <= 0
}

// Reservation ties a client to an address. The client gets IP whenever it
// asks on the subnet IP belongs to (which may be Subnet or a RelaySubnet,
// inside a range or not), and no other client ever gets IP. While IP is set
// aside after the client DECLINEd it, the client is served from the ranges
// like any other.
type Reservation struct {
	MAC      net.HardwareAddr
	IP       netip.Addr
	Hostname string // option 12; "" leaves it to Config.Hostname
}

// RelaySubnet is a subnet whose clients the server hears through a DHCP
// relay agent (RFC 1542) rather than on Interface: a request relayed with a
// giaddr inside Subnet gets an address from Ranges, Subnet's mask and
// Router. The subnet must not overlap Subnet or another RelaySubnet.
type RelaySubnet struct {
	Subnet netip.Prefix
	Router netip.Addr // optional option 3
	Ranges []Range
}

// checkAddressPlan checks the ranges, relay subnets and reservations.
func (c *Config) checkAddressPlan(p *problems) {
	check := p.check
	check(len(c.Ranges) > 0 || len(c.Reservations) > 0, "no addresses to hand out: Ranges and Reservations are both empty")
	c.checkRanges(p, "Ranges", c.Subnet, c.Router, c.Ranges)

	// A copy, masked: the caller's slice is not ours to change.
	c.RelaySubnets = slices.Clone(c.RelaySubnets)
	for i := range c.RelaySubnets {
		rs := &c.RelaySubnets[i]
		rs.Subnet = rs.Subnet.Masked()
		name := fmt.Sprintf("RelaySubnets[%d]", i)
		check(isHostPrefix(rs.Subnet), "%s: Subnet %v is not an IPv4 prefix with room for hosts (/30 or larger)", name, rs.Subnet)
		check(!rs.Subnet.Overlaps(c.Subnet), "%s: Subnet %v overlaps Subnet %v", name, rs.Subnet, c.Subnet)
		for j, earlier := range c.RelaySubnets[:i] {
			check(!rs.Subnet.Overlaps(earlier.Subnet), "%s: Subnet %v overlaps RelaySubnets[%d] %v", name, rs.Subnet, j, earlier.Subnet)
		}
		check(!rs.Router.IsValid() || isHostIn(rs.Subnet, rs.Router), "%s: Router %v is not a host address in %v", name, rs.Router, rs.Subnet)
		c.checkRanges(p, name+".Ranges", rs.Subnet, rs.Router, rs.Ranges)
	}
	c.checkReservations(p)
}

// checkRanges checks the ranges of one subnet. Ranges of different subnets
// cannot overlap once each lies in its subnet, since subnets do not.
func (c *Config) checkRanges(p *problems, name string, subnet netip.Prefix, router netip.Addr, ranges []Range) {
	for i, r := range ranges {
		name := fmt.Sprintf("%s[%d] %v", name, i, r)
		p.check(isHostIn(subnet, r.Start), "%s: start is not a host address in %v", name, subnet)
		p.check(isHostIn(subnet, r.End), "%s: end is not a host address in %v", name, subnet)
		if !r.Start.IsValid() || !r.End.IsValid() {
			continue
		}
		p.check(r.Start.Compare(r.End) <= 0, "%s: start is after end", name)
		p.check(!r.contains(c.ServerIP), "%s includes ServerIP %v", name, c.ServerIP)
		p.check(!r.contains(router), "%s includes Router %v", name, router)
		for j, earlier := range ranges[:i] {
			p.check(!r.overlaps(earlier), "%s overlaps [%d] %v", name, j, earlier)
		}
	}
}

func (c *Config) checkReservations(p *problems) {
	nets := newNetworks(c)
	macs := make(map[string]int)
	ips := make(map[netip.Addr]int)
	for i, r := range c.Reservations {
		name := fmt.Sprintf("Reservations[%d] (%v %v)", i, r.MAC, r.IP)
		p.check(isClientMAC(r.MAC), "%s: MAC is not a 6-byte unicast Ethernet address", name)
		if j, dup := macs[string(r.MAC)]; dup {
			p.check(false, "%s: same MAC as Reservations[%d]", name, j)
		}
		macs[string(r.MAC)] = i
		n := nets.containing(r.IP)
		p.check(n != nil && isHostIn(n.prefix, r.IP), "%s: IP is not a host address in Subnet or a RelaySubnet", name)
		p.check(r.IP != c.ServerIP, "%s: IP is ServerIP", name)
		p.check(n == nil || r.IP != n.router, "%s: IP is the subnet's Router", name)
		if j, dup := ips[r.IP]; dup {
			p.check(false, "%s: same IP as Reservations[%d]", name, j)
		}
		ips[r.IP] = i
		// Option 12 holds at most 255 bytes, and the name ends up in logs.
		p.check(len(r.Hostname) <= 255 && !strings.ContainsFunc(r.Hostname, isControl),
			"%s: Hostname is longer than 255 bytes or contains a control character", name)
	}
}

// isClientMAC reports whether mac can be a DHCP client's Ethernet address:
// six bytes, not all zero, and unicast. A multicast address (group bit set)
// never sends frames; the lease store uses such addresses as the keys of
// declined leases (see Lease), so no client may pose as one.
func isClientMAC(mac net.HardwareAddr) bool {
	return len(mac) == 6 && mac[0]&1 == 0 && !slices.Equal(mac, make(net.HardwareAddr, 6))
}
