package pxe

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestReplyDestination(t *testing.T) {
	var (
		relay     = dhcpv4.WithGatewayIP(net.ParseIP("10.88.0.1"))
		ciaddr    = dhcpv4.WithClientIP(net.ParseIP("10.77.0.42"))
		broadcast = dhcpv4.WithBroadcast(true)
	)
	tests := []struct {
		name    string
		request dhcpv4.MessageType
		mods    []dhcpv4.Modifier
		reply   dhcpv4.MessageType
		yiaddr  string // in the reply; "" for none
		to      string
		how     delivery
	}{
		{"relayed DISCOVER", dhcpv4.MessageTypeDiscover, mods(relay), dhcpv4.MessageTypeOffer, "10.88.0.100",
			"10.88.0.1:67", viaRelay},
		{"relayed, broadcast flag set", dhcpv4.MessageTypeDiscover, mods(relay, broadcast), dhcpv4.MessageTypeOffer,
			"10.88.0.100", "10.88.0.1:67", viaRelay},
		{"relayed REBINDING REQUEST", dhcpv4.MessageTypeRequest, mods(relay, ciaddr), dhcpv4.MessageTypeAck, "10.77.0.42",
			"10.88.0.1:67", viaRelay},
		{"relayed NAK", dhcpv4.MessageTypeRequest, mods(relay), dhcpv4.MessageTypeNak, "", "10.88.0.1:67", viaRelay},
		{"NAK to a client with an address", dhcpv4.MessageTypeRequest, mods(ciaddr), dhcpv4.MessageTypeNak, "",
			"255.255.255.255:68", toBroadcast},
		{"RENEWING ACK", dhcpv4.MessageTypeRequest, mods(ciaddr), dhcpv4.MessageTypeAck, "10.77.0.42",
			"10.77.0.42:68", toClientAddress},
		{"RENEWING ACK, broadcast flag set", dhcpv4.MessageTypeRequest, mods(ciaddr, broadcast), dhcpv4.MessageTypeAck,
			"10.77.0.42", "10.77.0.42:68", toClientAddress},
		{"OFFER, broadcast flag set", dhcpv4.MessageTypeDiscover, mods(broadcast), dhcpv4.MessageTypeOffer, "10.77.0.100",
			"255.255.255.255:68", toBroadcast},
		{"OFFER, broadcast flag clear", dhcpv4.MessageTypeDiscover, nil, dhcpv4.MessageTypeOffer, "10.77.0.100",
			"10.77.0.100:68", toHardwareAddress},
		{"SELECTING ACK, broadcast flag clear", dhcpv4.MessageTypeRequest, nil, dhcpv4.MessageTypeAck, "10.77.0.100",
			"10.77.0.100:68", toHardwareAddress},
		{"INFORM", dhcpv4.MessageTypeInform, mods(ciaddr), dhcpv4.MessageTypeAck, "", "10.77.0.42:68", toClientAddress},
		{"relayed INFORM", dhcpv4.MessageTypeInform, mods(relay, ciaddr), dhcpv4.MessageTypeAck, "",
			"10.77.0.42:68", toClientAddress},
		{"relayed INFORM without ciaddr", dhcpv4.MessageTypeInform, mods(relay), dhcpv4.MessageTypeAck, "",
			"10.88.0.1:67", viaRelay},
		{"INFORM without ciaddr", dhcpv4.MessageTypeInform, nil, dhcpv4.MessageTypeAck, "",
			"255.255.255.255:68", toBroadcast},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, d := decodeRequest(message(t, tc.request, "52:54:00:00:00:01", tc.mods...).ToBytes())
			if d != nil {
				t.Fatalf("request dropped: %v %s", d.reason, d.detail)
			}
			reply := newReply(req, tc.reply, addr("10.77.0.1"))
			if tc.yiaddr != "" {
				reply.YourIPAddr = net.ParseIP(tc.yiaddr)
			}
			to, how := replyDestination(req, reply)
			if to.String() != tc.to || how != tc.how {
				t.Errorf("to %v (%d), want %s (%d)", to, how, tc.to, tc.how)
			}
		})
	}
}

func mods(m ...dhcpv4.Modifier) []dhcpv4.Modifier { return m }
