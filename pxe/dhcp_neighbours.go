package pxe

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// neighbourTable adds entries to the kernel's neighbour (ARP) table, so that
// a reply can be unicast to a client that has no address yet and so answers
// no ARP for it: RFC 2131 §4.1 has the server send "to the client's hardware
// address and 'yiaddr' address". ISC dhcpd does this with SIOCSARP, dnsmasq
// with RTM_NEWNEIGH, as here.
type neighbourTable struct {
	nl  *netlink.Handle
	err error // why there is no nl
}

// openNeighbourTable opens the netlink socket. If that fails, every add
// fails with the reason, and the caller falls back to broadcast.
func openNeighbourTable() *neighbourTable {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return &neighbourTable{err: fmt.Errorf("netlink: %w", err)}
	}
	return &neighbourTable{nl: h}
}

// add says that ip is at mac on interface ifIndex. The entry is REACHABLE,
// not PERMANENT: the kernel ages it as usual, by which time the client
// answers ARP itself. It replaces what the table had for ip, which after a
// new lease is the address's previous holder.
func (t *neighbourTable) add(ifIndex int, ip netip.Addr, mac net.HardwareAddr) error {
	if t.err != nil {
		return t.err
	}
	return t.nl.NeighSet(&netlink.Neigh{
		LinkIndex:    ifIndex,
		Family:       unix.AF_INET,
		State:        netlink.NUD_REACHABLE,
		IP:           ip.AsSlice(),
		HardwareAddr: mac,
	})
}

func (t *neighbourTable) close() {
	if t.nl != nil {
		t.nl.Close()
	}
}
