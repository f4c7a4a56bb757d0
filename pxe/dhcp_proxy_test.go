package pxe

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// newProxyTestServer is a test server in ProxyDHCP mode: no ranges, no
// router, no DNS, as the address server gives those.
func newProxyTestServer(t *testing.T) *testServer {
	t.Helper()
	return newTestServer(t, func(c *Config) {
		c.DHCPMode = DHCPProxy
		c.Ranges, c.Router, c.DNS = nil, netip.Addr{}, nil
	})
}

// proxyDiscover sends a DISCOVER from mac to port 67 and returns the reply,
// or nil.
func (s *testServer) proxyDiscover(t *testing.T, mac string, mods ...dhcpv4.Modifier) *reply {
	t.Helper()
	return s.proxy.handle(message(t, dhcpv4.MessageTypeDiscover, mac, mods...).ToBytes(), broadcastArrival)
}

// bootServerRequest sends a REQUEST from mac to port 4011 from the given
// source and returns the reply, or nil.
func (s *testServer) bootServerRequest(t *testing.T, mac, source string, mods ...dhcpv4.Modifier) *reply {
	t.Helper()
	from := arrival{peer: netip.MustParseAddrPort(source), dst: netip.MustParseAddr("10.77.0.1")}
	return s.proxy.handleBootServer(message(t, dhcpv4.MessageTypeRequest, mac, mods...).ToBytes(), from)
}

func TestProxyOfferByFirmware(t *testing.T) {
	tests := []struct {
		name        string
		client      []dhcpv4.Modifier
		file        string // prefix of the file field and option 67
		vendorClass string // option 60
		pxeOptions  bool   // option 43
		ipxe        bool   // option 175 with priority 1
	}{
		{name: "BIOS PXE", client: asBIOSPXE, file: "undionly.kpxe", vendorClass: "PXEClient", pxeOptions: true},
		// Without option 43, UEFI PXE asks again on port 4011.
		{name: "UEFI x64 PXE", client: asPXE(iana.EFI_X86_64), file: "ipxe.efi", vendorClass: "PXEClient"},
		{name: "UEFI PXE sending arch 9", client: asPXE(iana.EFI_BC), file: "ipxe.efi", vendorClass: "PXEClient"},
		{name: "iPXE", client: asIPXE, file: scriptURL, vendorClass: "PXEClient", pxeOptions: true, ipxe: true},
		{name: "iPXE without option 60", client: []dhcpv4.Modifier{dhcpv4.WithUserClass("iPXE", false)},
			file: scriptURL, vendorClass: "PXEClient", ipxe: true},
		{name: "UEFI HTTP Boot", client: asHTTPBoot(iana.EFI_X86_64_HTTP),
			file: "http://10.77.0.1:8080/ipxe/ipxe.efi", vendorClass: "HTTPClient"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newProxyTestServer(t)
			out := s.proxyDiscover(t, "52:54:00:12:34:56", tc.client...)
			if out == nil {
				t.Fatalf("no reply; log:\n%s", s.logs)
			}
			if out.to != limitedBroadcast || out.how != toBroadcast {
				t.Errorf("sent to %v (%d), want a broadcast: the client has no address", out.to, out.how)
			}
			offer := onTheWire(t, out.msg)
			if offer.MessageType() != dhcpv4.MessageTypeOffer {
				t.Fatalf("got %v, want OFFER", offer.MessageType())
			}
			checkBootOnly(t, offer, tc.file, tc.vendorClass, tc.pxeOptions, tc.ipxe)
			if st := s.Stats().DHCP; st.ProxyOffers != 1 || st.Offers != 0 {
				t.Errorf("stats %+v, want 1 proxy offer and no lease offer", st)
			}
		})
	}
}

// checkBootOnly checks a ProxyDHCP reply: boot information, our server
// identifier, and no address, lease or network settings. ipxe says the
// reply is to iPXE, which gets option 175 with priority 1 and never
// no-pxedhcp.
func checkBootOnly(t *testing.T, m *dhcpv4.DHCPv4, file, vendorClass string, pxeOptions, ipxe bool) {
	t.Helper()
	if !m.YourIPAddr.IsUnspecified() {
		t.Errorf("yiaddr %v, want 0.0.0.0: the address server gives the address", m.YourIPAddr)
	}
	if !strings.HasPrefix(m.BootFileName, file) || m.BootFileNameOption() != m.BootFileName {
		t.Errorf("boot file: field %q, option 67 %q; want %q... in both", m.BootFileName, m.BootFileNameOption(), file)
	}
	// iPXE and PXE ROMs take a ProxyDHCP reply's boot file only with siaddr.
	if got := m.ServerIPAddr.String(); got != "10.77.0.1" {
		t.Errorf("siaddr %s, want 10.77.0.1", got)
	}
	if got := m.ServerIdentifier().String(); got != "10.77.0.1" {
		t.Errorf("server identifier %s, want 10.77.0.1", got)
	}
	if got := m.ClassIdentifier(); got != vendorClass {
		t.Errorf("option 60 %q, want %q", got, vendorClass)
	}
	checkOption(t, m, dhcpv4.OptionVendorSpecificInformation, pxeOptions, []byte{6, 1, 8, 255})
	checkOption(t, m, dhcpv4.OptionEtherboot, ipxe, []byte{1, 1, 1, 255})
	for _, code := range []dhcpv4.OptionCode{dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionDomainNameServer,
		dhcpv4.OptionIPAddressLeaseTime, dhcpv4.OptionRenewTimeValue, dhcpv4.OptionRebindingTimeValue, dhcpv4.OptionHostName} {
		checkOption(t, m, code, false, nil)
	}
}

func TestProxyIgnoresWhatIsNotOurs(t *testing.T) {
	const mac = "52:54:00:12:34:57"
	other := dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.77.0.254")))
	tests := []struct {
		name   string
		msg    *dhcpv4.DHCPv4
		from   arrival
		reason string
	}{
		{"plain DHCP client", message(t, dhcpv4.MessageTypeDiscover, mac), broadcastArrival, "not-netboot-firmware"},
		{"REQUEST for the address server", message(t, dhcpv4.MessageTypeRequest, mac, append(asIPXE, other,
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.77.0.150"))))...), broadcastArrival, "other-server"},
		{"INIT-REBOOT REQUEST", message(t, dhcpv4.MessageTypeRequest, mac, append(asBIOSPXE,
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.77.0.150"))))...), broadcastArrival, "lease-traffic"},
		{"RELEASE", message(t, dhcpv4.MessageTypeRelease, mac, append(asIPXE,
			dhcpv4.WithClientIP(net.ParseIP("10.77.0.150")))...), broadcastArrival, "lease-traffic"},
		{"DISCOVER on another interface", message(t, dhcpv4.MessageTypeDiscover, mac, asIPXE...),
			arrival{peer: broadcastArrival.peer, dst: broadcastArrival.dst, ifIndex: 7}, "wrong-interface"},
		{"UEFI ARM64, for which we have no iPXE", message(t, dhcpv4.MessageTypeDiscover, mac, asPXE(iana.EFI_ARM64)...),
			broadcastArrival, "no-ipxe-binary"},
		{"garbage", nil, broadcastArrival, "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newProxyTestServer(t)
			raw := []byte("hello, proxy")
			if tc.msg != nil {
				raw = tc.msg.ToBytes()
			}
			if out := s.proxy.handle(raw, tc.from); out != nil {
				t.Fatalf("answered with %v:\n%s", out.msg.MessageType(), out.msg.Summary())
			}
			if st := s.Stats().DHCP; st.Drops[tc.reason] != 1 || len(st.Drops) != 1 || st.ProxyOffers != 0 {
				t.Errorf("stats %+v, want one drop for %q", st, tc.reason)
			}
			if s.logs.find(t, "dropped DHCP packet", map[string]any{"reason": tc.reason}) == nil {
				t.Errorf("no log line for the drop; log:\n%s", s.logs)
			}
		})
	}
}

func TestProxyRelayedDiscover(t *testing.T) {
	s := newProxyTestServer(t)
	out := s.proxyDiscover(t, "52:54:00:12:34:58", append(asBIOSPXE, dhcpv4.WithGatewayIP(net.ParseIP("10.88.0.1")))...)
	if out == nil || out.to.String() != "10.88.0.1:67" || out.how != viaRelay {
		t.Fatalf("relayed DISCOVER answered %+v, want an OFFER to the relay 10.88.0.1:67", out)
	}
	checkBootOnly(t, onTheWire(t, out.msg), "undionly.kpxe", "PXEClient", true, false)
}

func TestProxyBootServerAck(t *testing.T) {
	uuid := append([]byte{0}, bytes.Repeat([]byte{0xab}, 16)...)
	ours := dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.77.0.1")))
	tests := []struct {
		name, source string
		client       []dhcpv4.Modifier
		to           string // where the ACK goes
		file         string
		pxeOptions   bool
		ipxe         bool
	}{
		// EDK2 sends from port 4011 and listens there only.
		{name: "UEFI PXE", source: "10.77.0.150:4011", to: "10.77.0.150:4011", file: "ipxe.efi",
			client: append(asPXE(iana.EFI_X86_64), ours, dhcpv4.WithClientIP(net.ParseIP("10.77.0.150")),
				dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, uuid)))},
		// iPXE sends from port 68.
		{name: "iPXE", source: "10.77.0.151:68", to: "10.77.0.151:68", file: scriptURL, pxeOptions: true, ipxe: true,
			client: append(asIPXE, ours, dhcpv4.WithClientIP(net.ParseIP("10.77.0.151")))},
		{name: "no ciaddr: the source address", source: "10.77.0.152:68", to: "10.77.0.152:68",
			file: "undionly.kpxe", pxeOptions: true, client: asBIOSPXE},
		{name: "ciaddr wins over the source address", source: "10.9.9.9:68", to: "10.77.0.153:68",
			file: "undionly.kpxe", pxeOptions: true, client: append(asBIOSPXE, dhcpv4.WithClientIP(net.ParseIP("10.77.0.153")))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newProxyTestServer(t)
			req := message(t, dhcpv4.MessageTypeRequest, "52:54:00:12:34:59", tc.client...)
			from := arrival{peer: netip.MustParseAddrPort(tc.source), dst: netip.MustParseAddr("10.77.0.1")}
			out := s.proxy.handleBootServer(req.ToBytes(), from)
			if out == nil {
				t.Fatalf("no reply; log:\n%s", s.logs)
			}
			if out.to.String() != tc.to || out.how != toClientAddress {
				t.Errorf("sent to %v (%d), want %s, routed", out.to, out.how, tc.to)
			}
			ack := onTheWire(t, out.msg)
			if ack.MessageType() != dhcpv4.MessageTypeAck || ack.TransactionID != req.TransactionID {
				t.Fatalf("got %v, xid %v; want ACK, xid %v", ack.MessageType(), ack.TransactionID, req.TransactionID)
			}
			if !ack.ClientIPAddr.Equal(req.ClientIPAddr) {
				t.Errorf("ciaddr %v, want the request's %v echoed", ack.ClientIPAddr, req.ClientIPAddr)
			}
			checkBootOnly(t, ack, tc.file, "PXEClient", tc.pxeOptions, tc.ipxe)
			if got, sent := ack.Options.Get(dhcpv4.OptionClientMachineIdentifier), req.Options.Get(dhcpv4.OptionClientMachineIdentifier); !bytes.Equal(got, sent) {
				t.Errorf("option 97 = % x, want the client's % x", got, sent)
			}
			if st := s.Stats().DHCP; st.ProxyAcks != 1 || st.Acks != 0 {
				t.Errorf("stats %+v, want 1 proxy ack and no lease ack", st)
			}
		})
	}
}

func TestProxyBootServerRefuses(t *testing.T) {
	const mac = "52:54:00:12:34:5a"
	tests := []struct {
		name   string
		raw    []byte
		source string
		reason string
	}{
		{"DISCOVER", message(t, dhcpv4.MessageTypeDiscover, mac, asBIOSPXE...).ToBytes(), "10.77.0.150:68", "unsupported-message-type"},
		{"another server's", message(t, dhcpv4.MessageTypeRequest, mac, append(asBIOSPXE,
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.77.0.254"))))...).ToBytes(), "10.77.0.150:68", "other-server"},
		{"plain DHCP client", message(t, dhcpv4.MessageTypeRequest, mac).ToBytes(), "10.77.0.150:68", "not-netboot-firmware"},
		{"nowhere to answer", message(t, dhcpv4.MessageTypeRequest, mac, asBIOSPXE...).ToBytes(), "0.0.0.0:68", "no-client-address"},
		{"bad magic cookie", func() []byte {
			raw := message(t, dhcpv4.MessageTypeRequest, mac, asBIOSPXE...).ToBytes()
			raw[bootpHeaderLen] = 0
			return raw
		}(), "10.77.0.150:68", "bad-magic-cookie"},
		{"garbage", []byte{1, 2, 3}, "10.77.0.150:68", "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newProxyTestServer(t)
			from := arrival{peer: netip.MustParseAddrPort(tc.source), dst: netip.MustParseAddr("10.77.0.1")}
			if out := s.proxy.handleBootServer(tc.raw, from); out != nil {
				t.Fatalf("answered with %v to %v", out.msg.MessageType(), out.to)
			}
			if st := s.Stats().DHCP; st.Drops[tc.reason] != 1 || len(st.Drops) != 1 || st.ProxyAcks != 0 {
				t.Errorf("stats %+v, want one drop for %q", st, tc.reason)
			}
		})
	}
}

func TestProxyConfig(t *testing.T) {
	proxy := func(c *Config) {
		c.DHCPMode = DHCPProxy
		c.Ranges, c.Router, c.DNS = nil, netip.Addr{}, nil
	}
	cfg := testConfig(t)
	proxy(&cfg)
	cfg.Leases = newMemLeaseStore() // the dispatcher always passes one
	if err := cfg.Validate(); err != nil {
		t.Fatalf("proxy mode without address settings: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"ranges", func(c *Config) {
			c.Ranges = []Range{{netip.MustParseAddr("10.77.0.100"), netip.MustParseAddr("10.77.0.110")}}
		}, "Ranges given in proxy mode"},
		{"reservations", func(c *Config) {
			c.Reservations = []Reservation{{MAC: mustMAC("52:54:00:00:00:01"), IP: netip.MustParseAddr("10.77.0.7")}}
		}, "Reservations given in proxy mode"},
		{"relay subnets", func(c *Config) {
			c.RelaySubnets = []RelaySubnet{{Subnet: netip.MustParsePrefix("10.88.0.0/24")}}
		}, "RelaySubnets given in proxy mode"},
		{"router", func(c *Config) { c.Router = netip.MustParseAddr("10.77.0.254") }, "Router given in proxy mode"},
		{"DNS", func(c *Config) { c.DNS = []netip.Addr{netip.MustParseAddr("10.77.0.53")} }, "DNS given in proxy mode"},
		{"unknown mode", func(c *Config) { c.DHCPMode = 9 }, "DHCPMode DHCPMode(9)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			proxy(&cfg)
			tc.edit(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestDHCPModeFlag(t *testing.T) {
	var m DHCPMode
	if err := m.Set("proxy"); err != nil || m != DHCPProxy || m.String() != "proxy" {
		t.Errorf("Set(proxy): %v, %v", m, err)
	}
	if err := m.Set("full"); err != nil || m != DHCPFull || m.String() != "full" {
		t.Errorf("Set(full): %v, %v", m, err)
	}
	if err := m.Set("relay"); err == nil || !strings.Contains(err.Error(), "want full or proxy") || m != DHCPFull {
		t.Errorf("Set(relay): %v, left %v", err, m)
	}
}
