package netconf

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// leaseFromACK reads the lease out of a DHCPACK received at acquired.
func leaseFromACK(iface string, mac net.HardwareAddr, ack *dhcpv4.DHCPv4, acquired time.Time) (*Lease, error) {
	addr := addr4(ack.YourIPAddr)
	if !addr.IsValid() {
		return nil, fmt.Errorf("DHCPACK assigns no address (yiaddr %v)", ack.YourIPAddr)
	}
	mask := ack.SubnetMask()
	if mask == nil {
		// Without option 1, fall back to the address class, as
		// dhclient does.
		mask = ack.YourIPAddr.DefaultMask()
	}
	ones, bits := mask.Size()
	if bits != 8*net.IPv4len {
		return nil, fmt.Errorf("DHCPACK has an invalid subnet mask %v", mask)
	}
	leaseTime := ack.IPAddressLeaseTime(0)
	lease := &Lease{
		Interface:  iface,
		MAC:        mac,
		Addr:       netip.PrefixFrom(addr, ones),
		ServerID:   addr4(ack.ServerIdentifier()),
		NextServer: addr4(ack.ServerIPAddr),
		Hostname:   ack.HostName(),
		LeaseTime:  leaseTime,
		Acquired:   acquired,
		// RFC 2131 4.4.5: T1 and T2 default to 1/2 and 7/8 of the lease.
		RenewAfter:  ack.IPAddressRenewalTime(leaseTime / 2),
		RebindAfter: ack.IPAddressRebindingTime(leaseTime / 8 * 7),
	}
	if routers := ack.Router(); len(routers) > 0 {
		lease.Router = addr4(routers[0])
	}
	for _, ip := range ack.DNS() {
		if a := addr4(ip); a.IsValid() {
			lease.DNS = append(lease.DNS, a)
		}
	}
	return lease, nil
}

// addr4 converts an IPv4 address from the wire. Missing, malformed and
// 0.0.0.0 ("none" in DHCP) all give the invalid netip.Addr.
func addr4(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}
