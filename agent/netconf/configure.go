package netconf

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// configure applies lease to n. Each step replaces what is there, so
// configuring the same lease twice is harmless.
func configure(n nic, lease *Lease) error {
	ipnet := &net.IPNet{
		IP:   lease.Addr.Addr().AsSlice(),
		Mask: net.CIDRMask(lease.Addr.Bits(), 32),
	}
	// netlink fills in the broadcast address.
	if err := netlink.AddrReplace(n.link, &netlink.Addr{IPNet: ipnet}); err != nil {
		return fmt.Errorf("adding address %v: %w", lease.Addr, err)
	}
	if lease.Router.IsValid() {
		route := &netlink.Route{LinkIndex: n.index, Gw: lease.Router.AsSlice()} // no Dst: default route
		if err := netlink.RouteReplace(route); err != nil {
			return fmt.Errorf("adding default route via %v: %w", lease.Router, err)
		}
	}
	if lease.Hostname != "" {
		if err := unix.Sethostname([]byte(lease.Hostname)); err != nil {
			return fmt.Errorf("setting hostname %q: %w", lease.Hostname, err)
		}
	}
	return nil
}
