package pxe

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// TestProxyDHCPOverVeth runs a real Server in ProxyDHCP mode in the server
// namespace and plays netboot firmware on the other end of the veth pair,
// with real sockets: a DISCOVER broadcast as iPXE gets a boot-only OFFER,
// broadcast back from port 67; a plain client and a REQUEST for the
// address server get nothing; then, with an address from "the address
// server", REQUESTs to port 4011 from port 4011 (as EDK2 sends them) and
// from port 68 (as iPXE does) get ACKs at that address and port, from
// 10.199.0.1:4011. Junk sent to 4011 first must not stop it.
func TestProxyDHCPOverVeth(t *testing.T) {
	mustBeRoot(t)
	lab := newVethLab(t)
	dirs := newLabDirs(t)
	dirs.Proxy = true
	server := lab.startServer(t, dirs)
	server.waitUntilServing(t)

	iface := lab.clientInterface(t)
	mac := iface.HardwareAddr.String()
	frames := lab.captureFrames(t, iface)
	raw := lab.rawClientConn(t, lab.clientIface)
	broadcast := func(m *dhcpv4.DHCPv4) {
		t.Helper()
		if _, err := raw.WriteTo(m.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ServerPort}); err != nil {
			t.Fatal(err)
		}
	}

	discover := message(t, dhcpv4.MessageTypeDiscover, mac, asIPXE...)
	broadcast(discover)
	got := frames.reply(t, discover.TransactionID, 5*time.Second)
	if got == nil {
		t.Fatalf("no ProxyDHCP offer to iPXE's DISCOVER; server log:\n%s", server.output.String())
	}
	if got.dst.String() != "255.255.255.255:68" || got.dstMAC.String() != "ff:ff:ff:ff:ff:ff" {
		t.Errorf("offer sent to %v at %v, want a broadcast to port 68", got.dst, got.dstMAC)
	}
	if got.msg.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("got %v, want OFFER", got.msg.MessageType())
	}
	checkLabBootOnly(t, got.msg, "http://10.199.0.1:8080/boot.ipxe")
	checkOption(t, got.msg, dhcpv4.OptionEtherboot, true, []byte{1, 1, 1, 255}) // priority, not no-pxedhcp

	// Not ours: a plain client, and iPXE's REQUEST to the address server.
	plain := message(t, dhcpv4.MessageTypeDiscover, mac)
	forOther := message(t, dhcpv4.MessageTypeRequest, mac, append(asIPXE,
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.199.0.254"))),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.199.0.150"))))...)
	for _, m := range []*dhcpv4.DHCPv4{plain, forOther} {
		broadcast(m)
		if r := frames.reply(t, m.TransactionID, time.Second); r != nil {
			t.Errorf("%v from a client answered with %v", m.MessageType(), r.msg.MessageType())
		}
	}

	// Port 4011, once the client has its address from the address server.
	const clientIP = "10.199.0.150"
	lab.ip(t, "-n", lab.clientNS, "addr", "add", clientIP+"/24", "dev", lab.clientIface)
	for _, port := range []int{bootServerPort, dhcpv4.ClientPort} {
		var conn *net.UDPConn
		if err := lab.inClient(func() (err error) {
			conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(clientIP), Port: port})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if port == bootServerPort {
			if _, err := conn.WriteToUDP([]byte("hello, 4011"), &net.UDPAddr{IP: net.ParseIP("10.199.0.1"), Port: bootServerPort}); err != nil {
				t.Fatal(err)
			}
		}
		req := message(t, dhcpv4.MessageTypeRequest, mac, append(asPXE(iana.EFI_X86_64),
			dhcpv4.WithClientIP(net.ParseIP(clientIP)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.199.0.1"))))...)
		ack, from := unicastExchangeOn(t, conn, bootServerPort, req)
		conn.Close()
		if from.String() != "10.199.0.1:4011" || ack.MessageType() != dhcpv4.MessageTypeAck {
			t.Errorf("REQUEST from port %d: %v from %v, want an ACK from 10.199.0.1:4011", port, ack.MessageType(), from)
		}
		if ack.ClientIPAddr.String() != clientIP {
			t.Errorf("ACK ciaddr %v, want %s echoed", ack.ClientIPAddr, clientIP)
		}
		checkLabBootOnly(t, ack, "ipxe.efi")
		checkOption(t, ack, dhcpv4.OptionVendorSpecificInformation, false, nil)
		checkOption(t, ack, dhcpv4.OptionEtherboot, false, nil)
	}

	stats := server.stop(t)
	d := stats.DHCP
	if d.ProxyOffers != 1 || d.ProxyAcks != 2 || d.Offers != 0 || d.Acks != 0 || len(d.Drops) != 3 ||
		d.Drops["not-netboot-firmware"] != 1 || d.Drops["other-server"] != 1 || d.Drops["truncated"] != 1 {
		t.Errorf("DHCP stats %+v, want 1 proxy offer, 2 proxy acks, and one drop each for not-netboot-firmware, other-server, truncated", d)
	}
}

// checkLabBootOnly checks a ProxyDHCP reply of the lab server.
func checkLabBootOnly(t *testing.T, m *dhcpv4.DHCPv4, file string) {
	t.Helper()
	if !m.YourIPAddr.IsUnspecified() || m.ServerIPAddr.String() != "10.199.0.1" ||
		m.ServerIdentifier().String() != "10.199.0.1" || m.ClassIdentifier() != "PXEClient" {
		t.Errorf("yiaddr %v, siaddr %v, server id %v, option 60 %q; want 0.0.0.0, 10.199.0.1, 10.199.0.1, PXEClient",
			m.YourIPAddr, m.ServerIPAddr, m.ServerIdentifier(), m.ClassIdentifier())
	}
	if !strings.HasPrefix(m.BootFileNameOption(), file) {
		t.Errorf("boot file %q, want %s...", m.BootFileNameOption(), file)
	}
	checkOption(t, m, dhcpv4.OptionIPAddressLeaseTime, false, nil)
}

// TestProxyPortInUseFailsRun starts a second ProxyDHCP server beside a
// first in the same namespace: port 67 is shared (SO_REUSEADDR, see
// listenDHCP), but port 4011 is not, so the second one's Run must fail at
// once and say why, rather than split the nodes' requests with the first.
func TestProxyPortInUseFailsRun(t *testing.T) {
	mustBeRoot(t)
	lab := newVethLab(t)
	dirs := newLabDirs(t)
	dirs.Proxy = true
	first := lab.startServer(t, dirs)
	first.waitUntilServing(t)

	second := lab.startServer(t, dirs)
	select {
	case <-second.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("a second ProxyDHCP server on the same address kept running:\n%s", second.output.String())
	}
	out := second.output.String()
	if second.waitErr == nil || !strings.Contains(out, "ProxyDHCP port") || !strings.Contains(out, "address already in use") ||
		strings.Contains(out, "PXE server running") {
		t.Errorf("second server: exit %v, output:\n%s\nwant a failure naming the ProxyDHCP port in use, before serving", second.waitErr, out)
	}
	first.stop(t)
}
