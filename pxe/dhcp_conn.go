package pxe

import (
	"context"
	"fmt"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
)

// listenDHCP opens the DHCP server socket: 0.0.0.0:67, so that broadcasts
// arrive, bound to one interface (SO_BINDTODEVICE) so that only that link is
// served, and allowed to broadcast replies.
func listenDHCP(iface string) (net.PacketConn, error) {
	conn, err := server4.NewIPv4UDPConn(iface, &net.UDPAddr{Port: dhcpv4.ServerPort})
	if err != nil {
		return nil, fmt.Errorf("dhcp: listen on %s: %w", iface, err)
	}
	return conn, nil
}

// run serves DHCP on conn until ctx is done, then closes conn.
func (h *dhcpHandler) run(ctx context.Context, conn net.PacketConn) error {
	defer conn.Close()
	return serveUntil(ctx, func() error { return h.serve(conn) }, func() { conn.Close() })
}

// serve answers DHCP on conn until reading from it fails, as it does once
// conn is closed.
//
// This is our own read loop rather than server4.Server's, which drops
// unparsable packets without saying why. Packets are handled one at a time,
// in order: DHCP is light, and a flood of junk then costs one goroutine
// rather than one per packet.
func (h *dhcpHandler) serve(conn net.PacketConn) error {
	// One byte more than we accept: ReadFrom silently truncates a larger
	// datagram, and this way it still shows as oversized.
	buf := make([]byte, maxPacketLen+1)
	for {
		n, peer, err := conn.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("dhcp: %w", err)
		}
		out := h.handle(buf[:n], peer)
		if out == nil {
			continue
		}
		if _, err := conn.WriteTo(out.msg.ToBytes(), out.to); err != nil {
			h.log.Warn("sending DHCP reply failed", "to", out.to.String(), "mac", out.msg.ClientHWAddr.String(), "err", err)
		}
	}
}
