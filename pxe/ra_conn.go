package pxe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

var allRouters = &net.IPAddr{IP: net.ParseIP("ff02::2")}

// listenRouterSolicitations opens the socket Router Solicitations on
// iface arrive at: raw ICMPv6 bound to iface, seeing Router Solicitations
// only, a member of all-routers (ff02::2, where hosts send them; only
// routers join it by themselves), telling us each packet's hop limit and
// interface, and sending with hop limit 255 as NDP must.
func listenRouterSolicitations(iface string) (*ipv6.PacketConn, *net.Interface, error) {
	if err := checkIPv6Enabled(iface); err != nil {
		return nil, nil, err
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, nil, err
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return bindToDevice(c, iface)
	}}
	c, err := lc.ListenPacket(context.Background(), "ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, nil, err
	}
	conn := ipv6.NewPacketConn(c)
	var onlySolicitations ipv6.ICMPFilter
	onlySolicitations.SetAll(true)
	onlySolicitations.Accept(ipv6.ICMPTypeRouterSolicitation)
	err = errors.Join(
		conn.SetICMPFilter(&onlySolicitations),
		conn.JoinGroup(ifi, allRouters),
		conn.SetHopLimit(ndpHopLimit),
		conn.SetMulticastHopLimit(ndpHopLimit),
		// Our own host needs no RA from us, and would only log it.
		conn.SetMulticastLoopback(false),
		conn.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagInterface, true),
	)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, ifi, nil
}

// checkIPv6Enabled fails if iface has no IPv6 or has it switched off
// (net.ipv6.conf.IFACE.disable_ipv6=1): the kernel then drops every IPv6
// packet on it, and a socket would wait for nothing without a word.
func checkIPv6Enabled(iface string) error {
	setting, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + iface + "/disable_ipv6")
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no IPv6 on %s (kernel without IPv6, or no such interface)", iface)
	case err != nil:
		return err
	case strings.TrimSpace(string(setting)) != "0":
		return fmt.Errorf("IPv6 is disabled on %s (sysctl net.ipv6.conf.%s.disable_ipv6=%s)",
			iface, iface, strings.TrimSpace(string(setting)))
	}
	return nil
}

func bindToDevice(c syscall.RawConn, iface string) error {
	var sockErr error
	if err := c.Control(func(fd uintptr) {
		sockErr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface)
	}); err != nil {
		return err
	}
	if sockErr != nil {
		return fmt.Errorf("bind to device %s: %w", iface, sockErr)
	}
	return nil
}

// run answers Router Solicitations until ctx is done, then closes the
// socket.
func (r *raResponder) run(ctx context.Context) error {
	defer r.conn.Close()
	return serveUntil(ctx, r.serve, func() { r.conn.Close() })
}

// serve reads solicitations one at a time until reading fails, as it does
// once the socket is closed.
func (r *raResponder) serve() error {
	buf := make([]byte, 1<<16) // any IPv6 payload: a raw socket truncates silently
	for {
		n, cm, peer, err := r.conn.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("router solicitations: %w", err)
		}
		r.handle(buf[:n], cm, peer)
	}
}

// ourLinkLocal is a link-local address of ifi we may send from: one that
// has passed duplicate address detection. Looked up for each answer, not
// once: a bridge has none until its first port comes up, which on a
// dispatcher is the first node's tap, long after we started.
func ourLinkLocal(ifi *net.Interface) (netip.Addr, error) {
	addrs, err := netlink.AddrList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: ifi.Index}}, netlink.FAMILY_V6)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		usable := a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.IsLinkLocalUnicast() && usable {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s has no link-local IPv6 address that passed duplicate address detection", ifi.Name)
}
