package pxe

import (
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// delivery is how a reply reaches its client, which decides what the socket
// does beyond sending to the destination address (see dhcpSocket.send).
type delivery uint8

const (
	// viaRelay: to the relay agent's server port, routed like any packet;
	// the relay takes it on to the client.
	viaRelay delivery = iota
	// toClientAddress: unicast to the address the client already has,
	// routed like any packet.
	toClientAddress
	// toBroadcast: to 255.255.255.255, out the interface the request came
	// in on.
	toBroadcast
	// toHardwareAddress: unicast to yiaddr at chaddr, out the interface
	// the request came in on. The client answers no ARP for an address it
	// does not have yet, so the socket first puts yiaddr -> chaddr in the
	// kernel's neighbour table, and broadcasts if it cannot.
	toHardwareAddress
)

var limitedBroadcast = netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), dhcpv4.ClientPort)

// replyDestination is where a reply to req goes, by RFC 2131 §4.1 (the
// paragraph that starts "If the 'giaddr' field in a DHCP message from a
// client is non-zero"), in its order:
//
//   - relayed (giaddr set): to the relay, port 67. newReply has copied
//     giaddr and the broadcast flag for it, and a NAK has the flag set.
//   - a NAK that came directly: broadcast, "in all cases": the client's
//     address is in doubt.
//   - ciaddr set (RENEWING, REBINDING): unicast to ciaddr, port 68.
//   - broadcast flag set (the client cannot take unicast before it is
//     configured): broadcast.
//   - else: unicast to yiaddr at chaddr.
//
// An ACK to an INFORM comes first of all: it goes to ciaddr even through a
// relay (§4.3.5: "directly to the address given in the 'ciaddr' field"), as
// Kea does; an INFORM without ciaddr falls to the rules above, and having no
// yiaddr either, is answered by broadcast.
func replyDestination(req *request, reply *dhcpv4.DHCPv4) (netip.AddrPort, delivery) {
	yiaddr := headerAddr(reply.YourIPAddr)
	switch mt := reply.MessageType(); {
	case req.msgType == dhcpv4.MessageTypeInform && req.clientIP.IsValid():
		return netip.AddrPortFrom(req.clientIP, dhcpv4.ClientPort), toClientAddress
	case req.relay.IsValid():
		return netip.AddrPortFrom(req.relay, dhcpv4.ServerPort), viaRelay
	case mt == dhcpv4.MessageTypeNak:
		return limitedBroadcast, toBroadcast
	case req.clientIP.IsValid():
		return netip.AddrPortFrom(req.clientIP, dhcpv4.ClientPort), toClientAddress
	case req.msg.IsBroadcast() || !yiaddr.IsValid():
		return limitedBroadcast, toBroadcast
	default:
		return netip.AddrPortFrom(yiaddr, dhcpv4.ClientPort), toHardwareAddress
	}
}
