package pxe

// Why a server that routes nothing answers IPv6 Router Solicitations.
//
// iPXE brings a NIC up with "ifconf" ("Configuring (net0 ...)"), which
// starts every network configurator, DHCP and IPv6, and goes on only when
// all of them are done. The IPv6 one (ipv6conf in iPXE's src/net/ndp.c)
// sends Router Solicitations to ff02::2 on a backing-off retry timer and
// finishes either when that timer gives up or on the first Router
// Advertisement: ipv6conf_rx_router_advertisement stops the timer,
// registers the RA's options as settings, starts DHCPv6 only if the RA
// has M or O set, and otherwise calls ipv6conf_done at once. (So in
// today's ndp.c and in older copies; the Debian build below behaves so.)
//
// Measured with Debian 12's ipxe-qemu ROM (iPXE 1.0.0+git-20190125, e1000)
// on a boot bridge with no IPv6 router: DHCP done ~3 s after power-on
// (under TCG), solicitations at +0, +0.25, +0.8, +1.8, +3.9 and +7.9 s
// after the first DHCPDISCOVER, and the boot script fetched 15.1 s after
// the DHCPACK: half of a node's boot-to-ready time. With this responder,
// same setup: one RA, and the script fetched 0.05 s after the DHCPACK
// (+3.3 s instead of +18.3 s from power-on; 3 runs with, 2 without).
//
// So we answer each solicitation with an RA that says "no router here":
// router lifetime 0 (nobody makes us their default router), no prefix (no
// one makes up an address), M=O=0 (no DHCPv6). The answer is unicast, so
// the kernel first resolves iPXE's link-local address with a Neighbor
// Solicitation, which iPXE answers; in the runs above the RA left with the
// DHCPACK, ~1 s after the first solicitation, and was never what iPXE
// waited for.
//
// RFC 4861 lets only routers send RAs, but one with lifetime 0 is exactly
// what a router that is not a default router sends, and it configures
// nothing. The one catch: iPXE acts on the first RA only, so on a link with
// a real IPv6 router ours can win the race and hide that router's prefixes
// and M/O flags from iPXE. Config.AnswerRouterSolicitations is for links
// without one.

import (
	"log/slog"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv6"
)

const (
	// raInterval is how often one source gets an answer at most.
	raInterval = time.Second
	// raMaxSources bounds the rate limiter's memory, and so what a flood
	// from forged sources can make us send: 4096 RAs a second.
	raMaxSources = 4096
)

var allNodes = netip.MustParseAddr("ff02::1")

// raResponder answers Router Solicitations on one interface (see above). It
// owns its socket (ra_conn.go); respond, which decides, needs none.
type raResponder struct {
	conn  *ipv6.PacketConn
	iface *net.Interface
	ra    []byte // the one advertisement we send, see routerAdvertisement

	limit *sourceLimiter
	stats *raCounters
	log   *slog.Logger
	now   func() time.Time

	// linkLocal finds the address to answer from (ourLinkLocal).
	linkLocal func(*net.Interface) (netip.Addr, error)
	// warnedNoLinkLocal: the warning about having none is given once.
	warnedNoLinkLocal bool
}

// respond decides what to do with a Router Solicitation msg from src that
// arrived with hop limit hopLimit (-1 if unknown) on interface ifIndex: the
// address to send our RA to, or why not to answer.
func (r *raResponder) respond(msg []byte, hopLimit, ifIndex int, src netip.Addr) (netip.Addr, *raDrop) {
	if d := checkSolicitation(msg, hopLimit, src); d != nil {
		return netip.Addr{}, d
	}
	// SO_BINDTODEVICE already keeps other links out; this is the
	// belt to those braces.
	if ifIndex != r.iface.Index {
		return netip.Addr{}, raDropf(raDropOtherInterface, "interface index %d", ifIndex)
	}
	if !r.limit.allow(src, r.now()) {
		return netip.Addr{}, raDropf(raDropRateLimited, "%v answered less than %v ago", src, raInterval)
	}
	// A host that has its link-local address gets the answer to it; one
	// that has none yet (::) can only hear the all-nodes address. So can
	// one soliciting from another address, which RFC 4861 allows, but
	// which we do not know to be on this link.
	if src.IsLinkLocalUnicast() {
		return src, nil
	}
	return allNodes, nil
}

// handle answers one received packet, or counts and logs why not.
func (r *raResponder) handle(msg []byte, cm *ipv6.ControlMessage, peer net.Addr) {
	if len(msg) == 0 || msg[0] != byte(ipv6.ICMPTypeRouterSolicitation) {
		// Queued before the socket's ICMP filter was in place.
		return
	}
	r.stats.solicitations.Add(1)
	hopLimit, ifIndex := -1, 0
	if cm != nil {
		hopLimit, ifIndex = cm.HopLimit, cm.IfIndex
	}
	src := addrOf(peer)
	to, d := r.respond(msg, hopLimit, ifIndex, src)
	if d == nil {
		d = r.send(to)
	}
	if d != nil {
		r.stats.drops[d.reason].Add(1)
		r.log.Debug("router solicitation not answered", "reason", d.reason.String(), "detail", d.detail, "peer", src)
		return
	}
	r.stats.advertisements.Add(1)
	r.log.Debug("router solicitation answered: no router here", "peer", src, "to", to)
}

// send sends our RA to dst from our link-local address.
func (r *raResponder) send(dst netip.Addr) *raDrop {
	from, err := r.linkLocal(r.iface)
	if err != nil {
		if !r.warnedNoLinkLocal {
			r.warnedNoLinkLocal = true
			r.log.Warn("cannot answer router solicitations: no usable IPv6 link-local address; "+
				"until there is one, iPXE waits ~15 s per boot for a router", "interface", r.iface.Name, "err", err)
		}
		return raDropf(raDropNoLinkLocal, "%v", err)
	}
	if dst == from {
		// A program on this host soliciting from its own socket, which
		// multicast loopback shows us. (The kernel's solicitations do
		// not loop back.)
		return raDropf(raDropOwnSolicitation, "from our own address %v", from)
	}
	// The source is set, not left to the kernel: a receiver ignores an RA
	// from anything but a link-local address (RFC 4861 §6.1.2).
	cm := &ipv6.ControlMessage{HopLimit: ndpHopLimit, Src: from.AsSlice(), IfIndex: r.iface.Index}
	if _, err := r.conn.WriteTo(r.ra, cm, &net.IPAddr{IP: dst.AsSlice(), Zone: r.iface.Name}); err != nil {
		r.log.Warn("sending router advertisement failed", "to", dst, "from", from, "err", err)
		return raDropf(raDropSendFailed, "%v", err)
	}
	return nil
}

// addrOf is the IP address of peer without its zone: the key that
// identifies a source on our one link.
func addrOf(peer net.Addr) netip.Addr {
	ipAddr, ok := peer.(*net.IPAddr)
	if !ok {
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(ipAddr.IP)
	return a
}
