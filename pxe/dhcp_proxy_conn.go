package pxe

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// bootServerPort is where PXE clients send a ProxyDHCP server their
// DHCPREQUEST for boot information (the PXE specification's boot server
// port; PXEBC_BS_DISCOVER_PORT in EDK2, PXE_PORT in iPXE).
const bootServerPort = 4011

// listenBootServer opens the port-4011 socket of a ProxyDHCP server. It is
// bound to serverIP: clients unicast there, to the server identifier of
// our OFFER, and the replies must come from it. No SO_REUSEADDR, unlike
// port 67: another ProxyDHCP server on this host (dnsmasq with
// dhcp-range=...,proxy) would split the requests with us, so a port in use
// is an error now rather than half the nodes failing later.
func listenBootServer(iface string, serverIP netip.Addr, log *slog.Logger) (*dhcpSocket, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("dhcp: interface %s: %w", iface, err)
	}
	pc, err := net.ListenPacket("udp4", netip.AddrPortFrom(serverIP, bootServerPort).String())
	if err == nil {
		growReceiveBuffer(pc, log)
	}
	if err != nil {
		return nil, fmt.Errorf("dhcp: ProxyDHCP port: %w", err)
	}
	conn := ipv4.NewPacketConn(pc)
	if err := conn.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true); err != nil {
		conn.Close()
		return nil, fmt.Errorf("dhcp: IP_PKTINFO: %w", err)
	}
	// No neighbour table: every reply goes to an address the client has
	// (see proxyHandler.ack), which the kernel resolves by ARP.
	return &dhcpSocket{conn: conn, ifIndex: ifi.Index, serverIP: serverIP.AsSlice(), log: log}, nil
}
