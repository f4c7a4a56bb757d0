package pxe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// dhcpWorkers is how many requests are handled at once. More than one, so
// that requests waiting for the LeaseStore do not hold up the rest and the
// store can commit their writes together; a fixed number, so that a flood
// of junk costs no more goroutines than a quiet day.
const dhcpWorkers = 32

// dhcpSocket is the server's one DHCP socket and what sending on it needs.
//
// It is bound to 0.0.0.0:67 without SO_BINDTODEVICE. Bound to Interface,
// the kernel would drop relayed requests that reach ServerIP through another
// of the host's interfaces, which is where relay agents on other subnets
// usually are. Instead IP_PKTINFO tells for each packet the interface it came
// in on and the address it was sent to, and dhcpHandler.networkFor turns away
// clients that talk to us directly from any link but Interface. Replies to
// such clients go out the interface their request came in on (the same
// IP_PKTINFO, on sending), since a broadcast or a reply to an unconfigured
// client cannot be routed; replies to relays and to clients' own addresses
// are routed by the kernel like any packet, since forcing the interface
// would make it assume the destination on that link. Every reply comes from
// ServerIP, the address clients know as the server identifier.
type dhcpSocket struct {
	conn             *ipv4.PacketConn
	ifIndex          int // Config.Interface
	serverIP         net.IP
	neighbours       *neighbourTable
	log              *slog.Logger
	neighbourWarning sync.Once // warns once that replies to new clients fall back to broadcast
}

// listenDHCP opens the DHCP socket for iface and serverIP.
func listenDHCP(iface string, serverIP netip.Addr, log *slog.Logger) (*dhcpSocket, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("dhcp: interface %s: %w", iface, err)
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		// SO_REUSEADDR lets another DHCP server bound to another
		// interface (libvirt's dnsmasq) share the port.
		return setSocketOptions(c, unix.SO_REUSEADDR, unix.SO_BROADCAST)
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", (&net.UDPAddr{Port: dhcpv4.ServerPort}).String())
	if err != nil {
		return nil, fmt.Errorf("dhcp: listen on %s: %w", iface, err)
	}
	growReceiveBuffer(pc, log)
	conn := ipv4.NewPacketConn(pc)
	if err := conn.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true); err != nil {
		conn.Close()
		return nil, fmt.Errorf("dhcp: IP_PKTINFO: %w", err)
	}
	return &dhcpSocket{
		conn:       conn,
		ifIndex:    ifi.Index,
		serverIP:   serverIP.AsSlice(),
		neighbours: openNeighbourTable(),
		log:        log,
	}, nil
}

// dhcpReceiveBuffer holds a rack's worth of DHCP requests arriving at once.
// With the kernel's default (about 200 KB) a burst of 200 DISCOVERs from
// a rack powered on together overflowed it (bench boot-files: 42 drops,
// counted in the namespace's UdpRcvbufErrors), and each dropped client lost
// a second to its retry timer.
const dhcpReceiveBuffer = 4 << 20

// growReceiveBuffer raises a socket's receive buffer to dhcpReceiveBuffer:
// SO_RCVBUFFORCE (root may pass net.core.rmem_max), else SO_RCVBUF (capped
// by rmem_max). Failing both is only slower under bursts, so it warns.
func growReceiveBuffer(pc net.PacketConn, log *slog.Logger) {
	sc, ok := pc.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err == nil {
		ctlErr := raw.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, dhcpReceiveBuffer)
			if err != nil {
				err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, dhcpReceiveBuffer)
			}
		})
		err = errors.Join(err, ctlErr)
	}
	if err != nil {
		log.Warn("cannot enlarge the DHCP receive buffer; bursts of requests may be dropped", "err", err)
	}
}

func setSocketOptions(c syscall.RawConn, boolOptions ...int) error {
	var errs []error
	err := c.Control(func(fd uintptr) {
		for _, opt := range boolOptions {
			errs = append(errs, unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, 1))
		}
	})
	return errors.Join(append(errs, err)...)
}

func (s *dhcpSocket) Close() error {
	if s.neighbours != nil {
		s.neighbours.close()
	}
	return s.conn.Close()
}

// run serves DHCP on s until ctx is done, then closes s.
func (h *dhcpHandler) run(ctx context.Context, s *dhcpSocket) error {
	h.ifIndex = s.ifIndex
	return s.run(ctx, h.handle)
}

// run answers each datagram on s with handle until ctx is done, then
// closes s.
func (s *dhcpSocket) run(ctx context.Context, handle func(raw []byte, from arrival) *reply) error {
	defer s.Close()
	return serveUntil(ctx, func() error { return s.serve(handle) }, func() { s.conn.Close() })
}

// serve answers DHCP on s with dhcpWorkers workers until reading fails, as
// it does once s is closed; the first worker to fail closes s for the rest.
//
// This is our own read loop rather than server4.Server's, which drops
// unparsable packets without saying why and knows nothing of IP_PKTINFO.
func (s *dhcpSocket) serve(handle func(raw []byte, from arrival) *reply) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range dhcpWorkers {
		wg.Go(func() {
			err := s.answer(handle)
			once.Do(func() {
				first = err
				s.conn.Close()
			})
		})
	}
	wg.Wait()
	return first
}

// answer is one worker: read a request, answer it, repeat.
func (s *dhcpSocket) answer(handle func(raw []byte, from arrival) *reply) error {
	// One byte more than we accept: a larger datagram is silently
	// truncated, and this way it still shows as oversized.
	buf := make([]byte, maxPacketLen+1)
	for {
		n, cm, peer, err := s.conn.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("dhcp: %w", err)
		}
		from := arrivalOf(cm, peer)
		if out := handle(buf[:n], from); out != nil {
			s.send(out, from.ifIndex)
		}
	}
}

func arrivalOf(cm *ipv4.ControlMessage, peer net.Addr) arrival {
	var from arrival
	if udp, ok := peer.(*net.UDPAddr); ok {
		from.peer = udp.AddrPort()
	}
	if cm != nil {
		from.ifIndex = cm.IfIndex
		from.dst, _ = netip.AddrFromSlice(cm.Dst.To4())
	}
	return from
}

// send sends out the way its delivery says; ifIndex is where the request
// came in.
func (s *dhcpSocket) send(out *reply, ifIndex int) {
	to := out.to
	cm := &ipv4.ControlMessage{Src: s.serverIP}
	switch out.how {
	case toHardwareAddress:
		if err := s.neighbours.add(ifIndex, to.Addr(), out.msg.ClientHWAddr); err != nil {
			s.neighbourWarning.Do(func() {
				s.log.Warn("cannot add neighbour entries: replies to clients without an address are broadcast",
					"err", err)
			})
			to = limitedBroadcast
		}
		cm.IfIndex = ifIndex
	case toBroadcast:
		cm.IfIndex = ifIndex
	}
	if _, err := s.conn.WriteTo(out.msg.ToBytes(), cm, net.UDPAddrFromAddrPort(to)); err != nil {
		s.log.Warn("sending DHCP reply failed", "to", to.String(), "mac", out.msg.ClientHWAddr.String(),
			"type", out.msg.MessageType().String(), "err", err)
	}
}
