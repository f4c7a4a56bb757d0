package pxe

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// relayServer serves 10.77.0.0/24 on its interface and 10.88.0.0/24
// through a relay agent at 10.88.0.1.
func relayServer(t *testing.T) *testServer {
	return newTestServer(t, func(c *Config) {
		c.RelaySubnets = []RelaySubnet{{
			Subnet: netip.MustParsePrefix("10.88.0.0/24"),
			Router: netip.MustParseAddr("10.88.0.1"),
			Ranges: []Range{{netip.MustParseAddr("10.88.0.100"), netip.MustParseAddr("10.88.0.109")}},
		}}
	})
}

// fromRelay is a request a relay agent unicast to the server, arriving on
// an interface other than the server's.
var fromRelay = arrival{
	peer:    netip.MustParseAddrPort("10.88.0.1:67"),
	ifIndex: 9,
	dst:     netip.MustParseAddr("10.77.0.1"),
}

// relayed is what a relay agent adds to a client's message.
func relayed(giaddr string, more ...dhcpv4.Modifier) []dhcpv4.Modifier {
	return append([]dhcpv4.Modifier{
		dhcpv4.WithGatewayIP(net.ParseIP(giaddr)),
		func(m *dhcpv4.DHCPv4) { m.HopCount = 1 },
		dhcpv4.WithOption(dhcpv4.OptRelayAgentInfo(dhcpv4.OptGeneric(dhcpv4.AgentCircuitIDSubOption, []byte("port7")))),
	}, more...)
}

func TestRelayedExchange(t *testing.T) {
	s := relayServer(t)
	const mac = "52:54:00:00:00:01"
	discover := message(t, dhcpv4.MessageTypeDiscover, mac, relayed("10.88.0.1", asIPXE...)...)
	out := s.dhcp.handle(discover.ToBytes(), fromRelay)
	if out == nil {
		t.Fatalf("relayed DISCOVER got no reply; log:\n%s", s.logs)
	}
	if out.to.String() != "10.88.0.1:67" || out.how != viaRelay {
		t.Errorf("OFFER sent to %v (%d), want to the relay at 10.88.0.1:67", out.to, out.how)
	}
	offer := onTheWire(t, out.msg)
	yiaddr := offer.YourIPAddr.String()
	checks := []struct{ what, got, want string }{
		{"yiaddr", yiaddr, "10.88.0.100"},
		{"giaddr", offer.GatewayIPAddr.String(), "10.88.0.1"},
		{"hops", fmt.Sprint(offer.HopCount), "0"},
		{"subnet mask", offer.SubnetMask().String(), "ffffff00"},
		{"router", offer.Router()[0].String(), "10.88.0.1"},
		{"server identifier", offer.ServerIdentifier().String(), "10.77.0.1"},
		{"boot file", offer.BootFileNameOption(), scriptURL + "?mac=52-54-00-00-00-01"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("OFFER %s = %s, want %s", c.what, c.got, c.want)
		}
	}
	if got, want := offer.Options.Get(dhcpv4.OptionRelayAgentInformation), discover.Options.Get(dhcpv4.OptionRelayAgentInformation); !bytes.Equal(got, want) {
		t.Errorf("option 82 = % x, want the relay's % x back (RFC 3046)", got, want)
	}

	request := message(t, dhcpv4.MessageTypeRequest, mac, relayed("10.88.0.1",
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(yiaddr))),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.77.0.1"))))...)
	out = s.dhcp.handle(request.ToBytes(), fromRelay)
	if out == nil || out.msg.MessageType() != dhcpv4.MessageTypeAck || out.to.String() != "10.88.0.1:67" {
		t.Fatalf("relayed REQUEST got %v, want an ACK to the relay; log:\n%s", out, s.logs)
	}

	// The client moved to the relay's subnet still asking for an address
	// of ours: NAK, through the relay, with the broadcast bit set.
	stale := message(t, dhcpv4.MessageTypeRequest, mac, relayed("10.88.0.1",
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.77.0.150"))))...)
	out = s.dhcp.handle(stale.ToBytes(), fromRelay)
	if out == nil || out.msg.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("relayed REQUEST for another subnet's address got %v, want a NAK", out)
	}
	if out.to.String() != "10.88.0.1:67" || !out.msg.IsBroadcast() {
		t.Errorf("relayed NAK sent to %v with broadcast flag %v, want to the relay with the flag set (RFC 2131 4.1)",
			out.to, out.msg.IsBroadcast())
	}
}

func TestRelayInsideOurSubnetIsServedFromOurRanges(t *testing.T) {
	s := relayServer(t)
	discover := message(t, dhcpv4.MessageTypeDiscover, "52:54:00:00:00:01", relayed("10.77.0.2")...)
	out := s.dhcp.handle(discover.ToBytes(), broadcastArrival)
	if out == nil {
		t.Fatalf("no reply; log:\n%s", s.logs)
	}
	if got := out.msg.YourIPAddr.String(); got != "10.77.0.100" || out.to.String() != "10.77.0.2:67" {
		t.Errorf("offered %v, sent to %v; want 10.77.0.100 sent to the relay at 10.77.0.2:67", got, out.to)
	}
}

func TestRelayFromAnUnknownSubnetIsDropped(t *testing.T) {
	s := relayServer(t)
	discover := message(t, dhcpv4.MessageTypeDiscover, "52:54:00:00:00:01", relayed("10.99.0.1")...)
	if out := s.dhcp.handle(discover.ToBytes(), fromRelay); out != nil {
		t.Fatalf("answered: %v", out.msg.Summary())
	}
	if s.logs.find(t, "dropped DHCP packet", map[string]any{"reason": "relay-subnet-unknown", "level": "WARN"}) == nil {
		t.Errorf("not logged at WARN with reason relay-subnet-unknown; log:\n%s", s.logs)
	}
}

// TestDirectClientsMustBeOnTheInterface: the socket hears every interface,
// so the handler must refuse clients broadcasting on the host's other links,
// while a client renewing by unicast may come from anywhere routes lead.
func TestDirectClientsMustBeOnTheInterface(t *testing.T) {
	s := relayServer(t)
	const mac = "52:54:00:00:00:01"
	elsewhere := arrival{ifIndex: 5, dst: netip.MustParseAddr("255.255.255.255")}
	unicastElsewhere := arrival{ifIndex: 5, dst: netip.MustParseAddr("10.77.0.1")}

	if out := s.dhcp.handle(message(t, dhcpv4.MessageTypeDiscover, mac).ToBytes(), elsewhere); out != nil {
		t.Error("a DISCOVER broadcast on another interface was answered")
	}
	if out := s.dhcp.handle(message(t, dhcpv4.MessageTypeDiscover, mac).ToBytes(), unicastElsewhere); out != nil {
		t.Error("a DISCOVER without ciaddr unicast from another interface was answered")
	}
	if got := s.Stats().DHCP.Drops["wrong-interface"]; got != 2 {
		t.Errorf("Drops[wrong-interface] = %d, want 2", got)
	}
	renew := message(t, dhcpv4.MessageTypeRequest, mac, dhcpv4.WithClientIP(net.ParseIP("10.88.0.105")))
	out := s.dhcp.handle(renew.ToBytes(), unicastElsewhere)
	if out == nil || out.msg.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("a RENEWING client of the relay's subnet, unicasting from another interface, got %v; want an ACK", out)
	}
	if out.to.String() != "10.88.0.105:68" || out.how != toClientAddress || out.msg.Router()[0].String() != "10.88.0.1" {
		t.Errorf("ACK to %v (%d) with router %v; want to 10.88.0.105:68, routed, with the relay subnet's router",
			out.to, out.how, out.msg.Router())
	}
}
