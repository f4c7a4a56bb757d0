package netconf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// leasePhase is where a lease is in its life (RFC 2131 4.4.5).
type leasePhase int

const (
	bound     leasePhase = iota // before T1: nothing to do
	renewing                    // T1 to T2: ask the server that gave the lease
	rebinding                   // T2 to its end: ask any server
	expired                     // the address must go
)

func (p leasePhase) String() string {
	return [...]string{"bound", "renewing", "rebinding", "expired"}[p]
}

// minRetransmit is the shortest wait between two requests while renewing
// or rebinding (RFC 2131 4.4.5: half the time left, down to 60 s), unless
// the phase ends sooner.
const minRetransmit = 60 * time.Second

// renewalStep says where lease is at now, and when to act next: at T1
// while bound, at the next retransmission while renewing or rebinding.
// Lease times come from time.Now, so they run on the monotonic clock and
// a clock step does not move them.
func renewalStep(l *Lease, now time.Time) (phase leasePhase, next time.Time) {
	// Guard against a server whose T1 > T2 > lease time.
	end := l.Acquired.Add(l.LeaseTime)
	t2 := l.Acquired.Add(min(l.RebindAfter, l.LeaseTime))
	t1 := l.Acquired.Add(min(l.RenewAfter, l.RebindAfter, l.LeaseTime))
	switch {
	case now.Before(t1):
		return bound, t1
	case now.Before(t2):
		return renewing, retransmitAt(now, t2)
	case now.Before(end):
		return rebinding, retransmitAt(now, end)
	default:
		return expired, now
	}
}

func retransmitAt(now, phaseEnd time.Time) time.Time {
	if at := now.Add(max(phaseEnd.Sub(now)/2, minRetransmit)); at.Before(phaseEnd) {
		return at
	}
	return phaseEnd
}

// errRefused is a DHCPNAK to a renewal: the address must go at once.
var errRefused = errors.New("DHCP server refused to extend the lease")

// Maintain keeps the node's address until ctx is done, and returns the
// lease in force then. From T1 it asks the server that gave the lease to
// extend it (unicast), from T2 any server (broadcast); when the lease runs
// out unextended, or a server refuses it, Maintain removes the address and
// gets a new lease as Up does, on the same NIC.
//
// The requests are built like Up's, without nclient4.Renew and its wait
// for entropy.
func Maintain(ctx context.Context, lease *Lease, log *slog.Logger) *Lease {
	if lease.LeaseTime <= 0 {
		log.Info("the DHCP lease has no lease time: nothing to renew", "interface", lease.Interface)
		<-ctx.Done()
		return lease
	}
	for {
		phase, next := renewalStep(lease, time.Now())
		switch phase {
		case renewing, rebinding:
			renewed, err := renew(ctx, lease, phase == rebinding, next)
			if err == nil {
				lease = renewed
				log.Info("DHCP lease renewed", "interface", lease.Interface, "addr", lease.Addr, "phase", phase, "lease_time", lease.LeaseTime)
				continue
			}
			if !errors.Is(err, errRefused) {
				log.Warn("DHCP lease not renewed yet", "phase", phase, "err", err, "retry_in", time.Until(next).Round(time.Second))
				break
			}
			fallthrough
		case expired:
			log.Warn("DHCP lease lost: removing the address and starting over", "interface", lease.Interface, "addr", lease.Addr, "phase", phase)
			if err := removeAddress(lease); err != nil {
				log.Warn("removing the address", "err", err)
			}
			fresh, err := Up(ctx, lease.MAC.String(), log)
			if err != nil {
				return lease // ctx is done
			}
			lease = fresh
			continue
		}
		select {
		case <-ctx.Done():
			return lease
		case <-time.After(time.Until(next)):
		}
	}
}

// renew asks for lease to be extended: a REQUEST unicast to the server
// that gave it (RENEWING), or broadcast to any (REBINDING). It waits for
// the answer until dhcpTimeout or until, whichever comes first, and
// configures the extended lease.
func renew(ctx context.Context, l *Lease, rebinding bool, until time.Time) (*Lease, error) {
	n, err := nicNamed(l.Interface)
	if err != nil {
		return nil, err
	}
	conn, err := renewalConn(ctx, n.name)
	if err != nil {
		return nil, err
	}
	client, err := nclient4.NewWithConn(conn, n.mac, nclient4.WithTimeout(dhcpTimeout), nclient4.WithRetry(1))
	if err != nil {
		conn.Close()
		return nil, err
	}
	defer client.Close()

	dest := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ServerPort}
	if !rebinding && l.ServerID.IsValid() {
		dest.IP = l.ServerID.AsSlice()
	}
	sent := time.Now()
	ctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	ack, err := client.SendAndRead(ctx, dest, renewRequest(l, transactionID(n.mac, sent)),
		nclient4.IsMessageType(dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak))
	if err != nil {
		return nil, fmt.Errorf("no answer from %v: %w", dest.IP, err)
	}
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		return nil, fmt.Errorf("%w: %q", errRefused, ack.Message())
	}
	// The new lease counts from the request (RFC 2131 4.4.5).
	renewed, err := leaseFromACK(n.name, n.mac, ack, sent)
	if err != nil {
		return nil, err
	}
	return renewed, configure(n, renewed)
}

// renewRequest builds the REQUEST of a bound client (RFC 2131 4.3.2,
// RENEWING and REBINDING): its address in ciaddr, and neither a requested
// address nor a server identifier.
func renewRequest(l *Lease, xid dhcpv4.TransactionID) *dhcpv4.DHCPv4 {
	return bootRequest(xid,
		dhcpv4.WithHwAddr(l.MAC),
		dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(l.Addr.Addr().AsSlice()))
}

// renewalConn is a kernel UDP socket on port 68 of iface. Unlike the raw
// socket Up needs before the NIC has an address, it sends a unicast
// request as unicast (nclient4's raw socket sends every frame to the
// broadcast MAC), and it receives both unicast and broadcast answers.
func renewalConn(ctx context.Context, iface string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		ctrlErr := c.Control(func(fd uintptr) {
			err = errors.Join(
				unix.BindToDevice(int(fd), iface),
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1))
		})
		return errors.Join(ctrlErr, err)
	}}
	return lc.ListenPacket(ctx, "udp4", fmt.Sprintf("0.0.0.0:%d", dhcpv4.ClientPort))
}

// removeAddress takes the lease's address off its NIC; the routes through
// it go with it.
func removeAddress(l *Lease) error {
	n, err := nicNamed(l.Interface)
	if err != nil {
		return err
	}
	ipnet := &net.IPNet{IP: l.Addr.Addr().AsSlice(), Mask: net.CIDRMask(l.Addr.Bits(), 32)}
	return netlink.AddrDel(n.link, &netlink.Addr{IPNet: ipnet})
}
