package netconf

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

func TestRenewalStep(t *testing.T) {
	acquired := time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC)
	hour := &Lease{Acquired: acquired, LeaseTime: time.Hour, RenewAfter: 30 * time.Minute, RebindAfter: 52*time.Minute + 30*time.Second}
	short := &Lease{Acquired: acquired, LeaseTime: 8 * time.Second, RenewAfter: 4 * time.Second, RebindAfter: 7 * time.Second}
	backwards := &Lease{Acquired: acquired, LeaseTime: time.Hour, RenewAfter: 2 * time.Hour, RebindAfter: 3 * time.Hour}
	at := func(d time.Duration) time.Time { return acquired.Add(d) }
	tests := []struct {
		name      string
		lease     *Lease
		now       time.Duration // since acquired
		wantPhase leasePhase
		wantNext  time.Duration // since acquired
	}{
		{"just bound: wait for T1", hour, 0, bound, 30 * time.Minute},
		{"at T1: retry after half the time to T2", hour, 30 * time.Minute, renewing, 41*time.Minute + 15*time.Second},
		{"nearer T2: half the time to T2", hour, 50 * time.Minute, renewing, 51*time.Minute + 15*time.Second},
		{"near T2: retry no sooner than 60 s", hour, 51 * time.Minute, renewing, 52 * time.Minute},
		{"just before T2: retry at T2", hour, 52 * time.Minute, renewing, 52*time.Minute + 30*time.Second},
		{"at T2: retry after half the time to the end", hour, 52*time.Minute + 30*time.Second, rebinding, 56*time.Minute + 15*time.Second},
		{"near the end: retry no sooner than 60 s", hour, 58*time.Minute + 30*time.Second, rebinding, 59*time.Minute + 30*time.Second},
		{"just before the end: retry at the end", hour, 59*time.Minute + 30*time.Second, rebinding, time.Hour},
		{"at the end", hour, time.Hour, expired, time.Hour},
		{"short lease at T1: retry at T2", short, 4 * time.Second, renewing, 7 * time.Second},
		{"short lease at T2: retry at the end", short, 7 * time.Second, rebinding, 8 * time.Second},
		{"T1 and T2 past the end: rebind never comes before the end", backwards, 0, bound, time.Hour},
		{"T1 and T2 past the end: expire at the end", backwards, time.Hour, expired, time.Hour},
	}
	for _, tt := range tests {
		phase, next := renewalStep(tt.lease, at(tt.now))
		if phase != tt.wantPhase || !next.Equal(at(tt.wantNext)) {
			t.Errorf("%s: %v, next in %v; want %v, next in %v", tt.name, phase, next.Sub(acquired), tt.wantPhase, tt.wantNext)
		}
	}
}

func TestRenewRequest(t *testing.T) {
	l := &Lease{MAC: testMAC, Addr: netip.MustParsePrefix("10.198.0.100/24"), ServerID: netip.MustParseAddr("10.198.0.1")}
	req := renewRequest(l, dhcpv4.TransactionID{1, 2, 3, 4})
	switch {
	case req.MessageType() != dhcpv4.MessageTypeRequest:
		t.Errorf("message type %v, want Request", req.MessageType())
	case !req.ClientIPAddr.Equal(net.IPv4(10, 198, 0, 100)):
		t.Errorf("ciaddr %v, want the leased address", req.ClientIPAddr)
	case req.Options.Has(dhcpv4.OptionRequestedIPAddress) || req.Options.Has(dhcpv4.OptionServerIdentifier):
		t.Errorf("a renewal carries neither a requested address nor a server identifier: %v", req.Summary())
	case req.ClientHWAddr.String() != testMAC.String() || req.TransactionID != (dhcpv4.TransactionID{1, 2, 3, 4}):
		t.Errorf("chaddr %v xid %v", req.ClientHWAddr, req.TransactionID)
	}
}

// request is what the test server saw: a message and where it was sent.
type request struct {
	msgType dhcpv4.MessageType
	ciaddr  net.IP
	dst     net.IP
}

// renewServer leases offeredIP for leaseTime seconds, reports every
// request it gets, and answers only while answering is true.
type renewServer struct {
	answering atomic.Bool
	requests  chan request
}

func startRenewServer(t *testing.T, n testNet, leaseTime uint32) *renewServer {
	s := &renewServer{requests: make(chan request, 100)}
	s.answering.Store(true)
	var conn net.PacketConn
	inNamespace(t, n.server, func() {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				unix.BindToDevice(int(fd), "dhcp0")
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			})
		}}
		var err error
		if conn, err = lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:67"); err != nil {
			t.Errorf("DHCP server: %v", err)
		}
	})
	if conn == nil {
		t.FailNow()
	}
	t.Cleanup(func() { conn.Close() })
	pc := ipv4.NewPacketConn(conn)
	if err := pc.SetControlMessage(ipv4.FlagDst, true); err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			size, cm, _, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			m, err := dhcpv4.FromBytes(buf[:size])
			if err != nil || cm == nil {
				continue
			}
			select {
			case s.requests <- request{m.MessageType(), m.ClientIPAddr, cm.Dst}:
			default:
			}
			if !s.answering.Load() {
				continue
			}
			reply, err := replyTo(m, leaseTime)
			if err != nil || reply == nil {
				continue
			}
			// A bound client gets its answer at its address, any other by broadcast.
			to := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
			if !m.ClientIPAddr.IsUnspecified() {
				to.IP = m.ClientIPAddr
			}
			pc.WriteTo(reply.ToBytes(), nil, to)
		}
	}()
	return s
}

// await waits for a request that matches want, passing over others.
func (s *renewServer) await(t *testing.T, what string, timeout time.Duration, want func(request) bool) request {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case r := <-s.requests:
			if want(r) {
				return r
			}
		case <-deadline:
			t.Fatalf("no %s within %v", what, timeout)
		}
	}
}

// TestMaintain runs a 4 s lease (T1 2 s, T2 3.5 s) through its life:
// renewed by unicast at T1; then, with the server silent, a unicast
// request at T1, a broadcast one at T2, the address removed at the end and
// discovery started over; the address back once the server answers again.
func TestMaintain(t *testing.T) {
	n := newTestNet(t)
	server := startRenewServer(t, n, 4)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	final := make(chan *Lease, 1)
	go inNamespace(t, n.node, func() {
		lease, err := Up(ctx, "", log)
		if err != nil {
			t.Errorf("Up: %v", err)
			final <- nil
			return
		}
		final <- Maintain(ctx, lease, log)
	})
	renewal := func(dst net.IP) func(request) bool {
		return func(r request) bool {
			return r.msgType == dhcpv4.MessageTypeRequest && r.ciaddr.Equal(offeredIP) && r.dst.Equal(dst)
		}
	}

	server.await(t, "unicast renewal at T1", 10*time.Second, renewal(serverIP))
	server.await(t, "unicast renewal at T1 of the renewed lease", 10*time.Second, renewal(serverIP))
	server.answering.Store(false)
	server.await(t, "unicast renewal at T1", 10*time.Second, renewal(serverIP))
	server.await(t, "broadcast renewal at T2", 10*time.Second, renewal(net.IPv4bcast))
	server.await(t, "discovery after the lease ran out", 10*time.Second, func(r request) bool { return r.msgType == dhcpv4.MessageTypeDiscover })
	if addr := ip(t, "-n", n.node, "-o", "-4", "addr", "show", "dev", "eth0"); strings.Contains(addr, offeredIP.String()) {
		t.Errorf("eth0 keeps the address of an expired lease:\n%s", addr)
	}
	server.answering.Store(true)
	server.await(t, "unicast renewal of the new lease", 30*time.Second, renewal(serverIP))
	if addr := ip(t, "-n", n.node, "-o", "-4", "addr", "show", "dev", "eth0"); !strings.Contains(addr, offeredIP.String()+"/24") {
		t.Errorf("eth0 after the new lease:\n%s", addr)
	}
	cancel()
	if lease := <-final; lease == nil || lease.Addr.Addr().String() != offeredIP.String() || time.Since(lease.Acquired) > 10*time.Second {
		t.Errorf("Maintain ended with lease %+v, want a fresh one for %v", lease, offeredIP)
	}
	if err := ctx.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("context: %v", err)
	}
}
