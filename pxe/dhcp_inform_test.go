package pxe

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestInformGetsOptionsButNoLease(t *testing.T) {
	store := newMemLeaseStore()
	s := newTestServer(t, func(c *Config) { c.Leases = store })
	const mac = "52:54:00:00:00:01"
	inform := message(t, dhcpv4.MessageTypeInform, mac, dhcpv4.WithClientIP(net.ParseIP("10.77.0.42")))
	out := s.exchange(t, inform)
	if out == nil {
		t.Fatalf("INFORM got no reply; log:\n%s", s.logs)
	}
	if out.to.String() != "10.77.0.42:68" || out.how != toClientAddress {
		t.Errorf("sent to %v (%d), want unicast to ciaddr 10.77.0.42:68", out.to, out.how)
	}
	ack := onTheWire(t, out.msg)
	if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(net.IPv4zero) ||
		ack.ClientIPAddr.String() != "10.77.0.42" {
		t.Errorf("got %v, yiaddr %v, ciaddr %v; want an ACK with no yiaddr echoing ciaddr",
			ack.MessageType(), ack.YourIPAddr, ack.ClientIPAddr)
	}
	for _, lease := range []dhcpv4.OptionCode{dhcpv4.OptionIPAddressLeaseTime, dhcpv4.OptionRenewTimeValue,
		dhcpv4.OptionRebindingTimeValue} {
		if ack.Options.Has(lease) {
			t.Errorf("INFORM's ACK has option %d (RFC 2131 4.3.5: no lease time)", lease.Code())
		}
	}
	if ack.SubnetMask().String() != "ffffff00" || ack.Router()[0].String() != "10.77.0.254" || len(ack.DNS()) != 1 {
		t.Errorf("options missing:\n%s", ack.Summary())
	}
	if got := s.Stats().DHCP; got.Informs != 1 || got.Acks != 0 {
		t.Errorf("stats %+v, want 1 inform and no lease ACK", got)
	}
	if _, ok := store.lease(mustMAC(mac)); ok || store.writes != 0 {
		t.Errorf("INFORM wrote to the store (%d writes)", store.writes)
	}
	if offer := s.discover(t, "52:54:00:00:00:02"); offer.YourIPAddr.String() != "10.77.0.100" {
		t.Errorf("after the INFORM the first client got %v, want 10.77.0.100: INFORM must hold nothing", offer.YourIPAddr)
	}
}

func TestRelayedInformIsAnsweredWithTheClientsSubnet(t *testing.T) {
	s := relayServer(t)
	inform := message(t, dhcpv4.MessageTypeInform, "52:54:00:00:00:01",
		relayed("10.88.0.1", dhcpv4.WithClientIP(net.ParseIP("10.88.0.42")))...)
	out := s.dhcp.handle(inform.ToBytes(), fromRelay)
	if out == nil {
		t.Fatalf("no reply; log:\n%s", s.logs)
	}
	if out.to.String() != "10.88.0.42:68" || out.msg.Router()[0].String() != "10.88.0.1" {
		t.Errorf("sent to %v with router %v; want to ciaddr 10.88.0.42:68 with the relay subnet's router 10.88.0.1",
			out.to, out.msg.Router())
	}
}
