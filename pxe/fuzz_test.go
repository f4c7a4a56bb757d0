package pxe

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// FuzzDHCPHandler drives the raw-bytes-to-reply path, with the packet coming
// in on the server's interface or another, broadcast or unicast to the
// server. Whatever comes in, the handler must not panic, and it may only
// answer a well-formed DISCOVER, REQUEST or INFORM from an Ethernet client,
// with a well-formed reply to that client or its relay, and never a
// broadcast heard on another interface. The same packet then goes to a
// ProxyDHCP server, on port 67 and on port 4011 (see checkProxyAnswer).
func FuzzDHCPHandler(f *testing.F) {
	mac := "52:54:00:12:34:56"
	relayed := dhcpv4.WithGatewayIP(net.ParseIP("10.88.0.1"))
	seeds := [][]dhcpv4.Modifier{
		nil, asIPXE, asBIOSPXE, asPXE(iana.EFI_X86_64), asHTTPBoot(iana.EFI_X86_64_HTTP),
		{dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.77.0.100"))),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.77.0.1")))},
		{dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithClientIP(net.ParseIP("10.77.0.100"))},
		{dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease), dhcpv4.WithClientIP(net.ParseIP("10.77.0.100"))},
		{dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.77.0.100")))},
		{dhcpv4.WithMessageType(dhcpv4.MessageTypeInform), dhcpv4.WithClientIP(net.ParseIP("10.77.0.42"))},
		{dhcpv4.WithMessageType(dhcpv4.MessageTypeInform)},
		{relayed, dhcpv4.WithBroadcast(true), dhcpv4.WithOption(dhcpv4.OptRelayAgentInfo(
			dhcpv4.OptGeneric(dhcpv4.AgentCircuitIDSubOption, []byte("port7"))))},
		{relayed, dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.88.0.100"))),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.77.0.1")))},
		{relayed, dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.77.0.100")))},
		{relayed, dhcpv4.WithMessageType(dhcpv4.MessageTypeInform), dhcpv4.WithClientIP(net.ParseIP("10.88.0.7"))},
		{dhcpv4.WithGatewayIP(net.ParseIP("192.168.9.1"))},
	}
	for _, mods := range seeds {
		raw := message(f, dhcpv4.MessageTypeDiscover, mac, mods...).ToBytes()
		f.Add(raw, false, false)
		f.Add(raw, true, true)
	}
	f.Add([]byte{}, false, false)
	f.Add([]byte("hello"), false, false)
	f.Add(bytes.Repeat([]byte{0xff}, 300), false, false)

	cfg := testConfig(f)
	cfg.RelaySubnets = []RelaySubnet{{
		Subnet: netip.MustParsePrefix("10.88.0.0/24"),
		Router: netip.MustParseAddr("10.88.0.1"),
		Ranges: []Range{{netip.MustParseAddr("10.88.0.100"), netip.MustParseAddr("10.88.0.101")}},
	}}
	cfg.Reservations = []Reservation{{MAC: mustMAC(mac), IP: netip.MustParseAddr("10.77.0.7")}}
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	proxyCfg := testConfig(f)
	proxyCfg.DHCPMode, proxyCfg.Ranges, proxyCfg.Router, proxyCfg.DNS = DHCPProxy, nil, netip.Addr{}, nil
	proxyCfg.Logger = cfg.Logger
	ps, err := New(proxyCfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte, elsewhere, unicast bool) {
		defer checkProxyAnswers(t, ps.proxy, raw, elsewhere, unicast)
		// Fresh leases each time keep runs independent of each other.
		s.dhcp.leases = newLeasePool(s.dhcp.nets, s.dhcp.reserved, cfg.LeaseTime)
		s.dhcp.store = newMemLeaseStore()
		from := broadcastArrival
		if elsewhere {
			from.ifIndex = 7
		}
		if unicast {
			from.dst = cfg.ServerIP
		}
		out := s.dhcp.handle(raw, from)
		if out == nil {
			return
		}
		req, err := dhcpv4.FromBytes(raw)
		if err != nil {
			t.Fatalf("answered a packet that does not parse (%v)", err)
		}
		if req.OpCode != dhcpv4.OpcodeBootRequest || req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
			t.Fatalf("answered op %v, hardware %v/%d", req.OpCode, req.HWType, len(req.ClientHWAddr))
		}
		mt := req.MessageType()
		if mt != dhcpv4.MessageTypeDiscover && mt != dhcpv4.MessageTypeRequest && mt != dhcpv4.MessageTypeInform {
			t.Fatalf("answered a %v", mt)
		}
		relay := headerAddr(req.GatewayIPAddr)
		if elsewhere && !unicast && !relay.IsValid() {
			t.Fatal("answered a client broadcasting on another interface")
		}
		checkReplyOnTheWire(t, req, out)
	})
}

// checkReplyOnTheWire checks that out answers req and is addressed as RFC
// 2131 §4.1 says, after encoding.
func checkReplyOnTheWire(t *testing.T, req *dhcpv4.DHCPv4, out *reply) {
	t.Helper()
	checkReplyMatches(t, req, out)
	relay, ciaddr := headerAddr(req.GatewayIPAddr), headerAddr(req.ClientIPAddr)
	informed := req.MessageType() == dhcpv4.MessageTypeInform && ciaddr.IsValid()
	switch {
	case informed && out.to != netip.AddrPortFrom(ciaddr, dhcpv4.ClientPort):
		t.Fatalf("INFORM from %v answered to %v", ciaddr, out.to)
	case !informed && relay.IsValid() && out.to != netip.AddrPortFrom(relay, dhcpv4.ServerPort):
		t.Fatalf("relayed by %v, answered to %v", relay, out.to)
	case !informed && !relay.IsValid() && out.to.Port() != dhcpv4.ClientPort:
		t.Fatalf("reply sent to %v", out.to)
	}
}

// checkReplyMatches checks that out, encoded, is a well-formed reply of at
// most maxPacketLen bytes to req: same transaction, client and relay.
func checkReplyMatches(t *testing.T, req *dhcpv4.DHCPv4, out *reply) *dhcpv4.DHCPv4 {
	t.Helper()
	wire := out.msg.ToBytes()
	if len(wire) > maxPacketLen {
		t.Fatalf("reply is %d bytes", len(wire))
	}
	got, err := dhcpv4.FromBytes(wire)
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if got.OpCode != dhcpv4.OpcodeBootReply || got.TransactionID != req.TransactionID ||
		!bytes.Equal(got.ClientHWAddr, req.ClientHWAddr) || !got.GatewayIPAddr.Equal(req.GatewayIPAddr) {
		t.Fatalf("reply not addressed to the request:\n%s", got.Summary())
	}
	return got
}

// checkProxyAnswers sends raw to a ProxyDHCP server's port 67 (arriving as
// FuzzDHCPHandler's flags say) and port 4011 (from 10.77.0.150:4011 when
// unicast, else from 0.0.0.0:68). Only netboot firmware may get an answer,
// never with an address or a lease: on 67 only a DISCOVER, to its relay or
// to port 68, and never one broadcast on another interface; on 4011 only a
// REQUEST, to ciaddr (else the source address) at the source port.
func checkProxyAnswers(t *testing.T, h *proxyHandler, raw []byte, elsewhere, unicast bool) {
	from := broadcastArrival
	if elsewhere {
		from.ifIndex = 7
	}
	from4011 := arrival{peer: netip.MustParseAddrPort("0.0.0.0:68"), dst: netip.MustParseAddr("10.77.0.1")}
	if unicast {
		from.dst = netip.MustParseAddr("10.77.0.1")
		from4011.peer = netip.MustParseAddrPort("10.77.0.150:4011")
	}
	for _, port67 := range []bool{true, false} {
		var out *reply
		if port67 {
			out = h.handle(raw, from)
		} else {
			out = h.handleBootServer(raw, from4011)
		}
		if out == nil {
			continue
		}
		req, err := dhcpv4.FromBytes(raw)
		if err != nil {
			t.Fatalf("ProxyDHCP answered a packet that does not parse (%v)", err)
		}
		got := checkReplyMatches(t, req, out)
		if !identifyFirmware(req).netboot() {
			t.Fatal("ProxyDHCP answered a client that is not netboot firmware")
		}
		if !got.YourIPAddr.IsUnspecified() || got.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
			t.Fatalf("ProxyDHCP reply gives an address or lease:\n%s", got.Summary())
		}
		relay, ciaddr := headerAddr(req.GatewayIPAddr), headerAddr(req.ClientIPAddr)
		switch mt := req.MessageType(); {
		case port67 && mt != dhcpv4.MessageTypeDiscover:
			t.Fatalf("ProxyDHCP answered a %v on port 67", mt)
		case port67 && elsewhere && !relay.IsValid():
			t.Fatal("ProxyDHCP answered a client broadcasting on another interface")
		case port67 && relay.IsValid() && out.to != netip.AddrPortFrom(relay, dhcpv4.ServerPort):
			t.Fatalf("relayed by %v, answered to %v", relay, out.to)
		case port67 && !relay.IsValid() && out.to.Port() != dhcpv4.ClientPort:
			t.Fatalf("ProxyDHCP offer sent to %v", out.to)
		case !port67 && mt != dhcpv4.MessageTypeRequest:
			t.Fatalf("ProxyDHCP answered a %v on port 4011", mt)
		case !port67 && ciaddr.IsValid() && out.to != netip.AddrPortFrom(ciaddr, from4011.peer.Port()):
			t.Fatalf("port 4011: ciaddr %v, answered to %v", ciaddr, out.to)
		case !port67 && !ciaddr.IsValid() && out.to != from4011.peer:
			t.Fatalf("port 4011: from %v, answered to %v", from4011.peer, out.to)
		}
	}
}
