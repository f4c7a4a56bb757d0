package pxe

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestReplyAddressingOverVeth checks on the wire where a real server sends
// its replies (RFC 2131 §4.1): to yiaddr at chaddr when the client leaves
// the broadcast flag clear, to everyone when it sets it, and to a renewing
// client's own address, which a UDP socket bound to that address receives.
func TestReplyAddressingOverVeth(t *testing.T) {
	mustBeRoot(t)
	lab := newVethLab(t)
	server := lab.startServer(t, newLabDirs(t))
	server.waitUntilServing(t)

	iface := lab.clientInterface(t)
	frames := lab.captureFrames(t, iface)
	raw := lab.rawClientConn(t, lab.clientIface)
	broadcast := func(m *dhcpv4.DHCPv4) *capturedReply {
		t.Helper()
		if _, err := raw.WriteTo(m.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ServerPort}); err != nil {
			t.Fatal(err)
		}
		r := frames.reply(t, m.TransactionID, 3*time.Second)
		if r == nil {
			t.Fatalf("no reply to %v within 3s", m.MessageType())
		}
		return r
	}
	mac := iface.HardwareAddr.String()

	offer := broadcast(message(t, dhcpv4.MessageTypeDiscover, mac))
	yiaddr := offer.msg.YourIPAddr.String()
	if !bytes.Equal(offer.dstMAC, iface.HardwareAddr) || offer.dst.String() != yiaddr+":68" {
		t.Errorf("OFFER with the broadcast flag clear went to %v at %v, want %s:68 at %v (chaddr)",
			offer.dst, offer.dstMAC, yiaddr, iface.HardwareAddr)
	}
	flagged := broadcast(message(t, dhcpv4.MessageTypeDiscover, mac, dhcpv4.WithBroadcast(true)))
	if flagged.dstMAC.String() != "ff:ff:ff:ff:ff:ff" || flagged.dst.String() != "255.255.255.255:68" {
		t.Errorf("OFFER with the broadcast flag set went to %v at %v, want 255.255.255.255:68 at ff:ff:ff:ff:ff:ff",
			flagged.dst, flagged.dstMAC)
	}
	ack := broadcast(message(t, dhcpv4.MessageTypeRequest, mac,
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(yiaddr))),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.199.0.1")))))
	if ack.msg.MessageType() != dhcpv4.MessageTypeAck || ack.dst.String() != yiaddr+":68" {
		t.Fatalf("REQUEST got %v sent to %v, want an ACK to %s:68", ack.msg.MessageType(), ack.dst, yiaddr)
	}

	// RENEWING: the client has its address and unicasts from it.
	lab.ip(t, "-n", lab.clientNS, "addr", "add", yiaddr+"/24", "dev", lab.clientIface)
	var client *net.UDPConn
	if err := lab.inClient(func() (err error) {
		client, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(yiaddr), Port: dhcpv4.ClientPort})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ciaddr := dhcpv4.WithClientIP(net.ParseIP(yiaddr))
	for _, m := range []*dhcpv4.DHCPv4{
		message(t, dhcpv4.MessageTypeRequest, mac, ciaddr),
		message(t, dhcpv4.MessageTypeInform, mac, ciaddr),
	} {
		got, from := unicastExchange(t, client, m)
		if got.MessageType() != dhcpv4.MessageTypeAck || from.String() != "10.199.0.1:67" {
			t.Errorf("%v from %s got %v from %v, want an ACK from 10.199.0.1:67", m.MessageType(), yiaddr,
				got.MessageType(), from)
		}
	}

	stats := server.stop(t)
	if d := stats.DHCP; d.Offers != 2 || d.Acks != 2 || d.Informs != 1 || len(d.Drops) != 0 {
		t.Errorf("DHCP stats %+v, want 2 offers, 2 acks, 1 inform, no drops", d)
	}
}

// unicastExchange sends m to the server from conn and returns the reply
// conn receives. conn is bound to a unicast address, so it receives only
// what is sent to that address, not broadcasts.
func unicastExchange(t *testing.T, conn *net.UDPConn, m *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, *net.UDPAddr) {
	t.Helper()
	return unicastExchangeOn(t, conn, dhcpv4.ServerPort, m)
}

// unicastExchangeOn is unicastExchange to the server's given port.
func unicastExchangeOn(t *testing.T, conn *net.UDPConn, port int, m *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, *net.UDPAddr) {
	t.Helper()
	if _, err := conn.WriteToUDP(m.ToBytes(), &net.UDPAddr{IP: net.ParseIP("10.199.0.1"), Port: port}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	if err := conn.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no reply to the unicast %v: %v", m.MessageType(), err)
		}
		reply, err := dhcpv4.FromBytes(buf[:n])
		if err == nil && reply.TransactionID == m.TransactionID {
			return reply, from
		}
	}
}
