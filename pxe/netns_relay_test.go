package pxe

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestRelayOverVeth plays a DHCP relay agent (RFC 1542) against a real
// server. The relay sits in the client namespace: its client-side address,
// 10.200.0.1, is on a subnet the server knows only as a RelaySubnet, and it
// reaches the server over a second link, not the one the server's Interface
// is on, as relays on other subnets do. Its requests must be answered to
// 10.200.0.1:67, routed back over that second link; a client broadcasting
// on the second link directly must not be answered at all.
func TestRelayOverVeth(t *testing.T) {
	mustBeRoot(t)
	lab := newVethLab(t)
	lab.addRelayLink(t)
	server := lab.startServer(t, newLabDirs(t))
	server.waitUntilServing(t)

	var relay *net.UDPConn
	if err := lab.inClient(func() (err error) {
		relay, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(relayAddr), Port: dhcpv4.ServerPort})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer relay.Close()

	const mac = "52:54:00:00:02:01"
	giaddr := dhcpv4.WithGatewayIP(net.ParseIP(relayAddr))
	offer, from := unicastExchange(t, relay, message(t, dhcpv4.MessageTypeDiscover, mac, giaddr))
	yiaddr, _ := netip.AddrFromSlice(offer.YourIPAddr.To4())
	if offer.MessageType() != dhcpv4.MessageTypeOffer || from.String() != "10.199.0.1:67" ||
		!netip.MustParsePrefix("10.200.0.0/24").Contains(yiaddr) || offer.GatewayIPAddr.String() != relayAddr {
		t.Fatalf("relayed DISCOVER got %v of %v from %v with giaddr %v; want an OFFER from 10.200.0.0/24, from 10.199.0.1:67, giaddr %s",
			offer.MessageType(), yiaddr, from, offer.GatewayIPAddr, relayAddr)
	}
	if got := offer.Router(); len(got) != 1 || got[0].String() != "10.200.0.1" {
		t.Errorf("OFFER names router %v, want the relay subnet's 10.200.0.1", got)
	}
	ack, _ := unicastExchange(t, relay, message(t, dhcpv4.MessageTypeRequest, mac, giaddr,
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(yiaddr.AsSlice())),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.199.0.1")))))
	if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(yiaddr.AsSlice()) {
		t.Errorf("relayed REQUEST got %v of %v, want an ACK of %v", ack.MessageType(), ack.YourIPAddr, yiaddr)
	}

	lab.checkNoAnswerOnRelayLink(t)
	stats := server.stop(t)
	if d := stats.DHCP; d.Offers != 1 || d.Acks != 1 || d.Drops["wrong-interface"] != 1 || len(d.Drops) != 1 {
		t.Errorf("DHCP stats %+v, want 1 offer, 1 ack, and the broadcast on the relay link dropped as wrong-interface", d)
	}
}

// The second link of the relay lab.
const (
	relayLinkServer = "rfpxe2" // 10.198.0.1/24, in the server namespace
	relayLinkClient = "rfpxe3" // 10.198.0.2/24, in the client namespace
	relayAddr       = "10.200.0.1"
)

// addRelayLink gives the lab a second veth pair, rfpxe2-rfpxe3 on
// 10.198.0.0/24, with the relay agent's client-side address 10.200.0.1/24
// on rfpxe3 besides (the kernel may lack the dummy driver), routed each way
// over that link.
func (lab *vethLab) addRelayLink(t *testing.T) {
	lab.ip(t, "-n", lab.serverNS, "link", "add", relayLinkServer, "type", "veth",
		"peer", "name", relayLinkClient, "netns", lab.clientNS)
	lab.ip(t, "-n", lab.serverNS, "addr", "add", "10.198.0.1/24", "dev", relayLinkServer)
	lab.ip(t, "-n", lab.serverNS, "link", "set", relayLinkServer, "up")
	lab.ip(t, "-n", lab.clientNS, "addr", "add", "10.198.0.2/24", "dev", relayLinkClient)
	lab.ip(t, "-n", lab.clientNS, "link", "set", relayLinkClient, "up")
	lab.ip(t, "-n", lab.clientNS, "addr", "add", relayAddr+"/24", "dev", relayLinkClient)
	lab.ip(t, "-n", lab.serverNS, "route", "add", "10.200.0.0/24", "via", "10.198.0.2")
	lab.ip(t, "-n", lab.clientNS, "route", "add", "10.199.0.0/24", "via", "10.198.0.1")
}

// checkNoAnswerOnRelayLink broadcasts a DISCOVER on the relay link, as a
// client there would, and checks nothing answers within a second: the
// server's socket hears every interface, and must serve only Interface.
func (lab *vethLab) checkNoAnswerOnRelayLink(t *testing.T) {
	t.Helper()
	raw := lab.rawClientConn(t, relayLinkClient)
	discover := message(t, dhcpv4.MessageTypeDiscover, "52:54:00:00:02:02", dhcpv4.WithBroadcast(true))
	if _, err := raw.WriteTo(discover.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ServerPort}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	raw.SetReadDeadline(time.Now().Add(time.Second))
	for {
		n, _, err := raw.ReadFrom(buf)
		if err != nil {
			return // nothing came: right
		}
		if m, err := dhcpv4.FromBytes(buf[:n]); err == nil && m.OpCode == dhcpv4.OpcodeBootReply &&
			m.TransactionID == discover.TransactionID {
			t.Errorf("a client broadcasting on %s, not the server's Interface, got a %v", relayLinkClient, m.MessageType())
			return
		}
	}
}
