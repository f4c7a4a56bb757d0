package netconf

import (
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestLeaseFromACK(t *testing.T) {
	acquired := time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC)
	ip := func(s string) net.IP { return net.ParseIP(s).To4() }
	ack := func(modifiers ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
		m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeAck)}, modifiers...)...)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	full := ack(
		dhcpv4.WithYourIP(ip("10.77.0.100")),
		dhcpv4.WithServerIP(ip("10.77.0.2")),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithOption(dhcpv4.OptRouter(ip("10.77.0.1"), ip("10.77.0.254"))),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(ip("10.77.0.2"))),
		dhcpv4.WithOption(dhcpv4.OptDNS(ip("10.77.0.53"), ip("0.0.0.0"), ip("9.9.9.9"))),
		dhcpv4.WithOption(dhcpv4.OptHostName("node-7")),
		dhcpv4.WithLeaseTime(3600),
		dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(1000*time.Second)))
	got, err := leaseFromACK("eth0", testMAC, full, acquired)
	if err != nil {
		t.Fatal(err)
	}
	want := &Lease{
		Interface:   "eth0",
		MAC:         testMAC,
		Addr:        netip.MustParsePrefix("10.77.0.100/24"),
		Router:      netip.MustParseAddr("10.77.0.1"),
		ServerID:    netip.MustParseAddr("10.77.0.2"),
		NextServer:  netip.MustParseAddr("10.77.0.2"),
		DNS:         []netip.Addr{netip.MustParseAddr("10.77.0.53"), netip.MustParseAddr("9.9.9.9")},
		Hostname:    "node-7",
		LeaseTime:   time.Hour,
		Acquired:    acquired,
		RenewAfter:  1000 * time.Second,
		RebindAfter: 3150 * time.Second, // 7/8 of the lease: the ACK has no T2
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("full ACK:\n got %+v\nwant %+v", got, want)
	}

	bare, err := leaseFromACK("eth0", testMAC, ack(dhcpv4.WithYourIP(ip("10.77.0.100"))), acquired)
	if err != nil {
		t.Fatal(err)
	}
	if bare.Addr != netip.MustParsePrefix("10.77.0.100/8") {
		t.Errorf("without a subnet mask: addr %v, want the class A default 10.77.0.100/8", bare.Addr)
	}
	if bare.Router.IsValid() || bare.ServerID.IsValid() || bare.NextServer.IsValid() || bare.DNS != nil || bare.Hostname != "" {
		t.Errorf("absent options must give zero values, got %+v", bare)
	}

	if _, err := leaseFromACK("eth0", testMAC, ack(), acquired); err == nil {
		t.Error("an ACK with yiaddr 0.0.0.0 gave a lease, want an error")
	}
	badMask := ack(dhcpv4.WithYourIP(ip("10.77.0.100")), dhcpv4.WithGeneric(dhcpv4.OptionSubnetMask, []byte{255, 0, 255, 0}))
	if _, err := leaseFromACK("eth0", testMAC, badMask, acquired); err == nil {
		t.Error("an ACK with a non-contiguous mask gave a lease, want an error")
	}
}
