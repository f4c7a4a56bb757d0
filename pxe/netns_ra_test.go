package pxe

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// labServerMAC is the server's end of the veth pair, fixed so that the test
// knows what the Router Advertisement's link-layer option must say.
const labServerMAC = "02:72:66:00:00:01"

// enableQuietIPv6 turns IPv6 on for iface in ns (a new namespace may have
// it off), without duplicate address detection, so that the link-local
// address is usable at once, and without the kernel's own Router
// Solicitations, so that the server sees only the test's.
func (lab *vethLab) enableQuietIPv6(t *testing.T, ns, iface string) {
	t.Helper()
	conf := "net.ipv6.conf." + iface + "."
	cmd := exec.Command("ip", "netns", "exec", ns, "sysctl", "-q", "-w",
		conf+"disable_ipv6=0", conf+"accept_dad=0", conf+"router_solicitations=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(cmd.Args, " "), err, out)
	}
}

// waitForLinkLocal waits until iface in ns has a link-local address that is
// no longer tentative: the kernel adds it only once the link has carrier.
func (lab *vethLab) waitForLinkLocal(t *testing.T, ns, iface string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := exec.Command("ip", "-n", ns, "-6", "-o", "addr", "show", "dev", iface, "scope", "link").CombinedOutput()
		if err != nil {
			t.Fatalf("ip -n %s addr show dev %s: %v: %s", ns, iface, err, out)
		}
		if strings.Contains(string(out), "fe80::") && !strings.Contains(string(out), "tentative") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in %s has no usable link-local address after 5s: %q", iface, ns, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkRouterDiscovery plays iPXE's IPv6 configurator from the client
// namespace: a forged-looking solicitation (hop limit 64) must go
// unanswered, a proper one must get "no router here", and a second one
// right after it nothing, by the rate limit.
func (lab *vethLab) checkRouterDiscovery(t *testing.T) {
	s := lab.newSolicitor(t)

	s.solicit(t, 64)
	if ra := s.advertisement(t, 500*time.Millisecond); ra != nil {
		t.Errorf("a Router Solicitation with hop limit 64 was answered by %v", ra.src)
	}

	s.solicit(t, ndpHopLimit)
	ra := s.advertisement(t, 3*time.Second)
	if ra == nil {
		t.Fatal("a Router Solicitation with hop limit 255 got no Router Advertisement within 3s")
	}
	if !ra.dst.Equal(s.linkLocal) || !ra.src.IsLinkLocalUnicast() || ra.hopLimit != ndpHopLimit {
		t.Errorf("Router Advertisement %v -> %v, hop limit %d; want from a link-local address to ours (%v), hop limit 255",
			ra.src, ra.dst, ra.hopLimit, s.linkLocal)
	}
	checkChecksum(t, ra)
	checkNoRouterHere(t, ra.msg, mustMAC(labServerMAC))

	s.solicit(t, ndpHopLimit)
	if ra := s.advertisement(t, 500*time.Millisecond); ra != nil {
		t.Error("a second Router Solicitation within a second was answered too: no rate limit")
	}
}

// solicitor is a raw ICMPv6 socket in the client namespace that sends
// Router Solicitations as iPXE does and sees only Router Advertisements.
type solicitor struct {
	conn      *ipv6.PacketConn
	iface     *net.Interface
	linkLocal net.IP
}

func (lab *vethLab) newSolicitor(t *testing.T) *solicitor {
	t.Helper()
	s := &solicitor{iface: lab.clientInterface(t)}
	var c net.PacketConn
	if err := lab.inClient(func() (err error) {
		if s.linkLocal, err = linkLocalOf(s.iface); err != nil {
			return err
		}
		c, err = net.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s.conn = ipv6.NewPacketConn(c)
	t.Cleanup(func() { s.conn.Close() })
	var onlyAdvertisements ipv6.ICMPFilter
	onlyAdvertisements.SetAll(true)
	onlyAdvertisements.Accept(ipv6.ICMPTypeRouterAdvertisement)
	if err := errors.Join(
		s.conn.SetICMPFilter(&onlyAdvertisements),
		s.conn.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst, true),
	); err != nil {
		t.Fatal(err)
	}
	return s
}

// linkLocalOf is iface's link-local address; call it in iface's namespace.
func linkLocalOf(iface *net.Interface) (net.IP, error) {
	addrs, err := iface.Addrs()
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if ipNet, ok := a.(*net.IPNet); ok && ipNet.IP.IsLinkLocalUnicast() && ipNet.IP.To4() == nil {
			return ipNet.IP, nil
		}
	}
	return nil, errors.New(iface.Name + " has no IPv6 link-local address")
}

// solicit sends a Router Solicitation to all-routers with the given IPv6
// hop limit, carrying our MAC as iPXE's do.
func (s *solicitor) solicit(t *testing.T, hopLimit int) {
	t.Helper()
	body := append([]byte{0, 0, 0, 0, ndpOptSourceLinkLayer, 1}, s.iface.HardwareAddr...)
	rs, err := (&icmp.Message{Type: ipv6.ICMPTypeRouterSolicitation, Body: &icmp.RawBody{Data: body}}).Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	cm := &ipv6.ControlMessage{HopLimit: hopLimit, IfIndex: s.iface.Index}
	if _, err := s.conn.WriteTo(rs, cm, allRouters); err != nil {
		t.Fatalf("sending a Router Solicitation: %v", err)
	}
}

// receivedRA is a Router Advertisement as it arrived.
type receivedRA struct {
	msg      []byte // the ICMPv6 message
	src, dst net.IP
	hopLimit int
}

// advertisement waits up to within for a Router Advertisement; nil if none
// came.
func (s *solicitor) advertisement(t *testing.T, within time.Duration) *receivedRA {
	t.Helper()
	if err := s.conn.SetReadDeadline(time.Now().Add(within)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for {
		n, cm, peer, err := s.conn.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			t.Fatalf("reading Router Advertisements: %v", err)
		}
		if n == 0 || buf[0] != byte(ipv6.ICMPTypeRouterAdvertisement) || cm == nil {
			continue // arrived before the filter was set
		}
		return &receivedRA{msg: bytes.Clone(buf[:n]), src: peer.(*net.IPAddr).IP, dst: cm.Dst, hopLimit: cm.HopLimit}
	}
}

// checkChecksum recomputes the ICMPv6 checksum over the pseudo-header of
// the addresses the RA came with: the server leaves it to the kernel.
func checkChecksum(t *testing.T, ra *receivedRA) {
	t.Helper()
	m, err := icmp.ParseMessage(ipv6.ICMPTypeRouterAdvertisement.Protocol(), ra.msg)
	if err != nil {
		t.Fatalf("Router Advertisement % x does not parse: %v", ra.msg, err)
	}
	want, err := m.Marshal(icmp.IPv6PseudoHeader(ra.src, ra.dst)) // computes the checksum afresh
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want[2:4], ra.msg[2:4]) {
		t.Errorf("Router Advertisement checksum % x, want % x", ra.msg[2:4], want[2:4])
	}
}
