package pxe

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

const scriptURL = "http://10.77.0.1:8080/boot.ipxe"

func TestOfferBootOptionsByFirmware(t *testing.T) {
	tests := []struct {
		name        string
		client      []dhcpv4.Modifier
		file        string // file field and option 67; "" for none
		nextServer  string // siaddr
		vendorClass string // option 60 in the reply
		pxeOptions  bool   // option 43: skip boot server discovery
		ipxeOptions bool   // option 175: no-pxedhcp
		noBinaryLog bool   // "no iPXE binary for arch" logged
	}{
		{name: "iPXE", client: asIPXE, file: scriptURL + "?mac=52-54-00-12-34-56", nextServer: "0.0.0.0",
			vendorClass: "PXEClient", pxeOptions: true, ipxeOptions: true},
		{name: "BIOS PXE", client: asBIOSPXE, file: "undionly.kpxe", nextServer: "10.77.0.1",
			vendorClass: "PXEClient", pxeOptions: true},
		{name: "UEFI x64 PXE", client: asPXE(iana.EFI_X86_64), file: "ipxe.efi", nextServer: "10.77.0.1",
			vendorClass: "PXEClient", pxeOptions: true},
		{name: "UEFI x64 PXE sending arch 9", client: asPXE(iana.EFI_BC), file: "ipxe.efi", nextServer: "10.77.0.1",
			vendorClass: "PXEClient", pxeOptions: true},
		{name: "UEFI x64 HTTP Boot", client: asHTTPBoot(iana.EFI_X86_64_HTTP),
			file: "http://10.77.0.1:8080/ipxe/ipxe.efi", nextServer: "0.0.0.0", vendorClass: "HTTPClient"},
		{name: "plain DHCP client", nextServer: "0.0.0.0"},
		{name: "UEFI ARM64 PXE", client: asPXE(iana.EFI_ARM64), nextServer: "0.0.0.0", noBinaryLog: true},
		{name: "UEFI ARM64 HTTP Boot", client: asHTTPBoot(iana.EFI_ARM64_HTTP), nextServer: "0.0.0.0", noBinaryLog: true},
		{name: "UEFI IA32 PXE", client: asPXE(iana.EFI_IA32), nextServer: "0.0.0.0", noBinaryLog: true},
		{name: "PXE without option 93", nextServer: "0.0.0.0", noBinaryLog: true,
			client: []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient"))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, nil)
			offer := s.discover(t, "52:54:00:12:34:56", tc.client...)
			checkLeaseOptions(t, offer, "52:54:00:12:34:56")

			if offer.BootFileName != tc.file || offer.BootFileNameOption() != tc.file {
				t.Errorf("boot file: field %q, option 67 %q; want %q in both",
					offer.BootFileName, offer.BootFileNameOption(), tc.file)
			}
			if got := offer.ServerIPAddr.String(); got != tc.nextServer {
				t.Errorf("siaddr = %s, want %s", got, tc.nextServer)
			}
			if got := offer.ClassIdentifier(); got != tc.vendorClass {
				t.Errorf("option 60 = %q, want %q", got, tc.vendorClass)
			}
			checkOption(t, offer, dhcpv4.OptionVendorSpecificInformation, tc.pxeOptions, []byte{6, 1, 8, 255})
			checkOption(t, offer, dhcpv4.OptionEtherboot, tc.ipxeOptions, []byte{176, 1, 1, 255})
			logged := s.logs.find(t, "no iPXE binary for arch", map[string]any{"level": "WARN"}) != nil
			if logged != tc.noBinaryLog {
				t.Errorf("logged %q: %v, want %v", "no iPXE binary for arch", logged, tc.noBinaryLog)
			}
		})
	}
}

// checkLeaseOptions checks what every OFFER and ACK carries.
func checkLeaseOptions(t *testing.T, m *dhcpv4.DHCPv4, mac string) {
	t.Helper()
	if m.OpCode != dhcpv4.OpcodeBootReply || m.ClientHWAddr.String() != mac {
		t.Errorf("op %v chaddr %v, want BOOTREPLY to %s", m.OpCode, m.ClientHWAddr, mac)
	}
	yiaddr, _ := netip.AddrFromSlice(m.YourIPAddr.To4())
	if yiaddr.Less(netip.MustParseAddr("10.77.0.100")) || netip.MustParseAddr("10.77.0.199").Less(yiaddr) {
		t.Errorf("yiaddr %v outside the range", yiaddr)
	}
	checks := []struct{ what, got, want string }{
		{"subnet mask", m.SubnetMask().String(), "ffffff00"},
		{"router", fmt.Sprint(m.Router()), "[10.77.0.254]"},
		{"DNS", fmt.Sprint(m.DNS()), "[10.77.0.53]"},
		{"server identifier", m.ServerIdentifier().String(), "10.77.0.1"},
		{"lease time", m.IPAddressLeaseTime(0).String(), "1h0m0s"},
		{"T1", m.IPAddressRenewalTime(0).String(), "30m0s"},
		{"T2", m.IPAddressRebindingTime(0).String(), "52m30s"},
		{"hostname", m.HostName(), "node-" + strings.ReplaceAll(mac, ":", "")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.what, c.got, c.want)
		}
	}
}

func checkOption(t *testing.T, m *dhcpv4.DHCPv4, code dhcpv4.OptionCode, want bool, value []byte) {
	t.Helper()
	got, present := m.Options[code.Code()]
	switch {
	case present != want:
		t.Errorf("option %d present: %v, want %v", code.Code(), present, want)
	case want && !bytes.Equal(got, value):
		t.Errorf("option %d = % x, want % x", code.Code(), got, value)
	}
}

func TestFullExchangeAndStickyOffer(t *testing.T) {
	s := newTestServer(t, nil)
	const mac = "52:54:00:00:00:01"
	offer := s.discover(t, mac, asBIOSPXE...)
	addr := offer.YourIPAddr.String()
	if again := s.discover(t, mac, asBIOSPXE...); again.YourIPAddr.String() != addr {
		t.Errorf("second DISCOVER offered %v, first %v: want the same address", again.YourIPAddr, addr)
	}
	if other := s.discover(t, "52:54:00:00:00:02"); other.YourIPAddr.String() == addr {
		t.Errorf("another MAC was offered %v too", addr)
	}

	out := s.request(t, mac, addr, "10.77.0.1", asIPXE...)
	if out == nil {
		t.Fatalf("REQUEST got no reply; log:\n%s", s.logs)
	}
	ack := onTheWire(t, out.msg)
	if ack.MessageType() != dhcpv4.MessageTypeAck || ack.YourIPAddr.String() != addr {
		t.Fatalf("got %v of %v, want ACK of %s", ack.MessageType(), ack.YourIPAddr, addr)
	}
	checkLeaseOptions(t, ack, mac)
	if want := scriptURL + "?mac=52-54-00-00-00-01"; ack.BootFileNameOption() != want {
		t.Errorf("ACK to iPXE has boot file %q, want %q", ack.BootFileNameOption(), want)
	}
	if out.to.String() != addr+":68" || out.how != toHardwareAddress {
		t.Errorf("ACK to a client without address and broadcast flag sent to %v (%d), want unicast to yiaddr at chaddr",
			out.to, out.how)
	}

	// Renewal: the client has the address now and names it in ciaddr.
	renew := message(t, dhcpv4.MessageTypeRequest, mac, dhcpv4.WithClientIP(net.ParseIP(addr)))
	out = s.exchange(t, renew)
	if out == nil || out.msg.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("renewal got %v, want ACK; log:\n%s", out, s.logs)
	}
	if out.to.String() != addr+":68" || out.msg.ClientIPAddr.String() != addr {
		t.Errorf("renewal ACK sent to %v with ciaddr %v, want unicast to %s:68 echoing ciaddr",
			out.to, out.msg.ClientIPAddr, addr)
	}
	if got := s.Stats().DHCP; got.Offers != 3 || got.Acks != 2 || got.Naks != 0 {
		t.Errorf("stats %+v, want 3 offers, 2 acks, no naks", got)
	}
}

func TestRequestIsNakedWhenAddressIsWrong(t *testing.T) {
	s := newTestServer(t, nil)
	taken := s.request(t, "52:54:00:00:00:01", "10.77.0.150", "")
	if taken == nil || taken.msg.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("INIT-REBOOT REQUEST for a free address got %v, want ACK", taken)
	}
	tests := []struct{ name, addr, serverID string }{
		{"another subnet", "192.168.1.20", ""},
		{"our subnet, outside the range", "10.77.0.20", ""},
		{"our own address", "10.77.0.1", "10.77.0.1"},
		{"leased to another client", "10.77.0.150", "10.77.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := s.request(t, "52:54:00:00:00:02", tc.addr, tc.serverID, asBIOSPXE...)
			if out == nil {
				t.Fatalf("got no reply, want NAK; log:\n%s", s.logs)
			}
			nak := onTheWire(t, out.msg)
			if nak.MessageType() != dhcpv4.MessageTypeNak {
				t.Fatalf("got %v, want NAK", nak.MessageType())
			}
			if !nak.YourIPAddr.Equal(net.IPv4zero) || nak.BootFileName != "" || nak.Message() == "" {
				t.Errorf("NAK carries yiaddr %v, file %q, message %q; want none, none, a reason",
					nak.YourIPAddr, nak.BootFileName, nak.Message())
			}
			if nak.Options.Has(dhcpv4.OptionIPAddressLeaseTime) || nak.ServerIdentifier().String() != "10.77.0.1" {
				t.Errorf("NAK options wrong:\n%s", nak.Summary())
			}
			if out.to.String() != "255.255.255.255:68" {
				t.Errorf("NAK sent to %v, want broadcast", out.to)
			}
		})
	}
	if got := s.Stats().DHCP.Naks; got != uint64(len(tests)) {
		t.Errorf("Naks = %d, want %d", got, len(tests))
	}
}

// oneAddressServer has a range of exactly one address, so that who holds it
// shows directly.
func oneAddressServer(t *testing.T) *testServer {
	return newTestServer(t, func(c *Config) {
		c.Ranges = []Range{{netip.MustParseAddr("10.77.0.100"), netip.MustParseAddr("10.77.0.100")}}
	})
}

func TestRangeExhaustionAndLeaseExpiry(t *testing.T) {
	s := oneAddressServer(t)
	if ack := s.request(t, "52:54:00:00:00:01", "10.77.0.100", ""); ack == nil {
		t.Fatal("first client got no lease")
	}
	out := s.exchange(t, message(t, dhcpv4.MessageTypeDiscover, "52:54:00:00:00:02"))
	if out != nil {
		t.Fatalf("DISCOVER with the range exhausted got %v, want no reply", out.msg.MessageType())
	}
	if s.logs.find(t, "dropped DHCP packet", map[string]any{"reason": "range-exhausted", "level": "WARN"}) == nil {
		t.Errorf("exhaustion not logged at WARN with its reason; log:\n%s", s.logs)
	}
	s.clock.Advance(time.Hour + maxExpiryStep) // expiries are rounded up by at most a step
	if offer := s.discover(t, "52:54:00:00:00:02"); offer.YourIPAddr.String() != "10.77.0.100" {
		t.Errorf("after the lease expired, offered %v, want 10.77.0.100", offer.YourIPAddr)
	}
}

func TestReleaseFreesTheAddress(t *testing.T) {
	s := oneAddressServer(t)
	s.request(t, "52:54:00:00:00:01", "10.77.0.100", "")
	release := message(t, dhcpv4.MessageTypeRelease, "52:54:00:00:00:01",
		dhcpv4.WithClientIP(net.ParseIP("10.77.0.100")),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.77.0.1"))))
	if out := s.exchange(t, release); out != nil {
		t.Fatalf("RELEASE got a reply: %v", out.msg.MessageType())
	}
	if offer := s.discover(t, "52:54:00:00:00:02"); offer.YourIPAddr.String() != "10.77.0.100" {
		t.Errorf("after RELEASE, offered %v to another client, want 10.77.0.100", offer.YourIPAddr)
	}
	if drops := s.Stats().DHCP.Drops; len(drops) != 0 {
		t.Errorf("drops %v, want none", drops)
	}
}

func TestDeclineSetsTheAddressAside(t *testing.T) {
	s := oneAddressServer(t)
	s.request(t, "52:54:00:00:00:01", "10.77.0.100", "")
	decline := message(t, dhcpv4.MessageTypeDecline, "52:54:00:00:00:01",
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.77.0.100"))),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.77.0.1"))))
	if out := s.exchange(t, decline); out != nil {
		t.Fatalf("DECLINE got a reply: %v", out.msg.MessageType())
	}
	if out := s.exchange(t, message(t, dhcpv4.MessageTypeDiscover, "52:54:00:00:00:01")); out != nil {
		t.Fatalf("declined address offered again at once: %v", out.msg.YourIPAddr)
	}
	s.clock.Advance(declineHold)
	if offer := s.discover(t, "52:54:00:00:00:02"); offer.YourIPAddr.String() != "10.77.0.100" {
		t.Errorf("after %v, offered %v, want 10.77.0.100 back in use", declineHold, offer.YourIPAddr)
	}
}

func TestRequestForAnotherServerWithdrawsOurOffer(t *testing.T) {
	s := oneAddressServer(t)
	s.discover(t, "52:54:00:00:00:01")
	if out := s.request(t, "52:54:00:00:00:01", "10.99.0.5", "10.99.0.1"); out != nil {
		t.Fatalf("REQUEST to another server got a reply: %v", out.msg.MessageType())
	}
	if s.logs.find(t, "dropped DHCP packet", map[string]any{"reason": "other-server", "level": "DEBUG"}) == nil {
		t.Errorf("not logged with reason other-server; log:\n%s", s.logs)
	}
	if offer := s.discover(t, "52:54:00:00:00:02"); offer.YourIPAddr.String() != "10.77.0.100" {
		t.Errorf("withdrawn offer's address not offered to the next client (got %v)", offer.YourIPAddr)
	}
}

// TestBadPacketsAreDroppedWithAReason feeds the handler one kind of bad
// packet after another, each on the same server, and then checks the server
// still answers.
func TestBadPacketsAreDroppedWithAReason(t *testing.T) {
	s := newTestServer(t, nil)
	valid := message(t, dhcpv4.MessageTypeDiscover, "52:54:00:00:00:01").ToBytes()
	header := valid[:bootpHeaderLen+len(magicCookie)]
	withOptions := func(options ...byte) []byte { return append(bytes.Clone(header), options...) }
	edit := func(offset int, b byte) []byte {
		p := bytes.Clone(valid)
		p[offset] = b
		return p
	}
	withMessage := func(mt dhcpv4.MessageType, mods ...dhcpv4.Modifier) []byte {
		return message(t, mt, "52:54:00:00:00:01", mods...).ToBytes()
	}
	junkOptions := []byte{}
	for code := byte(100); code < 200; code++ {
		junkOptions = append(junkOptions, code, 3, 0xde, 0xad, 0xbe)
	}

	tests := []struct {
		name   string
		packet []byte
		reason string
	}{
		{"empty", nil, "truncated"},
		{"cut in the header", valid[:100], "truncated"},
		{"cut before the cookie", valid[:bootpHeaderLen+2], "truncated"},
		{"bigger than a frame", append(bytes.Clone(valid), make([]byte, 1400)...), "oversized"},
		{"BOOTREPLY", edit(0, 2), "not-a-request"},
		{"unknown op", edit(0, 0x7f), "not-a-request"},
		{"not Ethernet", edit(1, 6), "bad-hardware-address"},
		{"16-byte hardware address", edit(2, 16), "bad-hardware-address"},
		{"all-zero MAC", withMessage(dhcpv4.MessageTypeDiscover, dhcpv4.WithHwAddr(make(net.HardwareAddr, 6))),
			"bad-hardware-address"},
		{"wrong magic cookie", edit(bootpHeaderLen, 0), "bad-magic-cookie"},
		{"option runs past the end", withOptions(53, 1, 1, 60, 200, 'P', 255), "malformed-options"},
		{"no End option", withOptions(53, 1, 1), "malformed-options"},
		{"option 50 of 3 bytes", withOptions(53, 1, 3, 50, 3, 10, 77, 0, 255), "malformed-options"},
		{"option 54 of 5 bytes", withOptions(53, 1, 3, 54, 5, 10, 77, 0, 1, 1, 255), "malformed-options"},
		{"no message type", withOptions(255), "no-message-type"},
		{"two-byte message type", withOptions(53, 2, 1, 1, 255), "no-message-type"},
		{"junk options only", withOptions(append(junkOptions, 255)...), "no-message-type"},
		{"unknown message type", withOptions(53, 1, 42, 255), "unsupported-message-type"},
		{"OFFER sent to the server", withMessage(dhcpv4.MessageTypeOffer), "unsupported-message-type"},
		{"INFORM from another subnet", withMessage(dhcpv4.MessageTypeInform,
			dhcpv4.WithClientIP(net.ParseIP("192.168.5.5"))), "foreign-client-address"},
		{"relayed from an unknown subnet", withMessage(dhcpv4.MessageTypeDiscover,
			dhcpv4.WithGatewayIP(net.ParseIP("10.1.0.1"))), "relay-subnet-unknown"},
		{"multicast MAC", withMessage(dhcpv4.MessageTypeDiscover, dhcpv4.WithHwAddr(mustMAC("01:00:5e:00:00:01"))),
			"bad-hardware-address"},
		{"option 61 longer than one option holds", withMessage(dhcpv4.MessageTypeDiscover,
			dhcpv4.WithOption(dhcpv4.OptClientIdentifier(make([]byte, 300)))), "malformed-options"},
		{"REQUEST for another server", withMessage(dhcpv4.MessageTypeRequest,
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.77.0.100"))),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.77.0.2")))), "other-server"},
		{"REQUEST naming no address", withMessage(dhcpv4.MessageTypeRequest), "no-requested-address"},
		{"RELEASE of an unknown lease", withMessage(dhcpv4.MessageTypeRelease,
			dhcpv4.WithClientIP(net.ParseIP("10.77.0.123"))), "unknown-lease"},
		{"DECLINE of an unknown lease", withMessage(dhcpv4.MessageTypeDecline,
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.77.0.123")))), "unknown-lease"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats().DHCP.Drops[tc.reason]
			if out := s.dhcp.handle(tc.packet, broadcastArrival); out != nil {
				t.Fatalf("got a reply:\n%s", out.msg.Summary())
			}
			if got := s.Stats().DHCP.Drops[tc.reason]; got != before+1 {
				t.Errorf("Drops[%q] = %d, want %d; all drops %v", tc.reason, got, before+1, s.Stats().DHCP.Drops)
			}
			if s.logs.find(t, "dropped DHCP packet", map[string]any{"reason": tc.reason}) == nil {
				t.Errorf("no log line with reason %q; log:\n%s", tc.reason, s.logs)
			}
		})
	}
	if offer := s.discover(t, "52:54:00:00:00:09"); offer == nil {
		t.Fatal("server stopped answering after bad packets")
	}
}

func TestEveryDropReasonHasAName(t *testing.T) {
	checkReasonNames(t, numDropReasons)
	checkReasonNames(t, numRADropReasons)
}

// checkReasonNames checks that the reasons 0..n-1 have names, all different.
func checkReasonNames[R interface {
	~uint8
	String() string
}](t *testing.T, n R) {
	t.Helper()
	seen := map[string]bool{}
	for r := range n {
		name := r.String()
		if name == "" || seen[name] {
			t.Errorf("%T %d has name %q (empty or repeated)", r, r, name)
		}
		seen[name] = true
	}
}
