package pxe

import (
	"bytes"
	"log/slog"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// FuzzDHCPHandler drives the raw-bytes-to-reply path. Whatever comes in, the
// handler must not panic, and it may only answer a well-formed DISCOVER or
// REQUEST from an Ethernet client with a well-formed reply to that client.
func FuzzDHCPHandler(f *testing.F) {
	mac := "52:54:00:12:34:56"
	seeds := [][]dhcpv4.Modifier{
		nil, asIPXE, asBIOSPXE, asPXE(iana.EFI_X86_64), asHTTPBoot(iana.EFI_X86_64_HTTP),
		{dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.77.0.100"))),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.77.0.1")))},
		{dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithClientIP(net.ParseIP("10.77.0.100"))},
		{dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease), dhcpv4.WithClientIP(net.ParseIP("10.77.0.100"))},
		{dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.77.0.100")))},
	}
	for _, mods := range seeds {
		f.Add(message(f, dhcpv4.MessageTypeDiscover, mac, mods...).ToBytes())
	}
	f.Add([]byte{})
	f.Add([]byte("hello"))
	f.Add(bytes.Repeat([]byte{0xff}, 300))

	cfg := testConfig(f)
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		// A fresh pool each time keeps runs independent of each other.
		s.dhcp.leases = newLeasePool(cfg.RangeStart, cfg.RangeEnd, cfg.LeaseTime)
		out := s.dhcp.handle(raw, &net.UDPAddr{IP: net.IPv4zero, Port: 68})
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
		if mt := req.MessageType(); mt != dhcpv4.MessageTypeDiscover && mt != dhcpv4.MessageTypeRequest {
			t.Fatalf("answered a %v", mt)
		}
		wire := out.msg.ToBytes()
		if len(wire) > maxPacketLen {
			t.Fatalf("reply is %d bytes", len(wire))
		}
		got, err := dhcpv4.FromBytes(wire)
		if err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		if got.OpCode != dhcpv4.OpcodeBootReply || got.TransactionID != req.TransactionID ||
			!bytes.Equal(got.ClientHWAddr, req.ClientHWAddr) {
			t.Fatalf("reply not addressed to the request:\n%s", got.Summary())
		}
		if out.to.Port != dhcpv4.ClientPort {
			t.Fatalf("reply sent to %v", out.to)
		}
	})
}
