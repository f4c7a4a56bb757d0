package netconf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The test network: a node namespace and a server namespace, joined by a
// veth pair, eth0 <-> dhcp0. The node also has eth1, whose peer in the
// server namespace stays down, so eth1 never gets carrier. eth1 is made
// first: it comes before eth0 in interface order.
var (
	nodeMAC      = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	serverIP     = net.IPv4(10, 198, 0, 1).To4()
	offeredIP    = net.IPv4(10, 198, 0, 100).To4()
	nodeHostname = "rfnode-under-test"
)

type testNet struct{ node, server string }

func newTestNet(t *testing.T) testNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates network namespaces: run it as root")
	}
	n := testNet{
		node:   fmt.Sprintf("rfnet-%d-node", os.Getpid()),
		server: fmt.Sprintf("rfnet-%d-srv", os.Getpid()),
	}
	t.Cleanup(func() {
		// Deleting a namespace deletes the interfaces in it.
		exec.Command("ip", "netns", "del", n.node).Run()
		exec.Command("ip", "netns", "del", n.server).Run()
	})
	for _, args := range [][]string{
		{"netns", "add", n.node},
		{"netns", "add", n.server},
		{"-n", n.node, "link", "add", "eth1", "type", "veth", "peer", "name", "dead0", "netns", n.server},
		{"-n", n.node, "link", "add", "eth0", "address", nodeMAC.String(), "type", "veth", "peer", "name", "dhcp0", "netns", n.server},
		{"-n", n.server, "addr", "add", serverIP.String() + "/24", "dev", "dhcp0"},
		{"-n", n.server, "link", "set", "dhcp0", "up"},
	} {
		ip(t, args...)
	}
	return n
}

func ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNamespace runs fn on a thread of its own in the named network
// namespace and a new UTS namespace, so that nothing fn does, sethostname
// included, reaches the host. The thread stays locked: Go ends it when fn
// returns.
func inNamespace(t *testing.T, name string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		ns, err := netns.GetFromName(name)
		if err != nil {
			t.Errorf("opening namespace %s: %v", name, err)
			return
		}
		defer ns.Close()
		if err := unix.Unshare(unix.CLONE_NEWUTS); err != nil {
			t.Errorf("unshare(CLONE_NEWUTS): %v", err)
			return
		}
		if err := netns.Set(ns); err != nil {
			t.Errorf("entering namespace %s: %v", name, err)
			return
		}
		fn()
	}()
	<-done
}

// serveDHCP runs a DHCP server on dhcp0 that offers offeredIP and acks a
// request for it, as long as the test runs.
func serveDHCP(t *testing.T, n testNet) {
	inNamespace(t, n.server, func() {
		srv, err := server4.NewServer("dhcp0", nil, func(conn net.PacketConn, _ net.Addr, m *dhcpv4.DHCPv4) {
			reply, err := replyTo(m, 3600)
			if err != nil {
				t.Errorf("DHCP server: %v", err)
				return
			}
			if reply != nil {
				conn.WriteTo(reply.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort})
			}
		})
		if err != nil {
			t.Errorf("starting the DHCP server: %v", err)
			return
		}
		go srv.Serve()
		t.Cleanup(func() { srv.Close() })
	})
}

// replyTo answers m as a server leasing offeredIP for leaseTime seconds.
func replyTo(m *dhcpv4.DHCPv4, leaseTime uint32) (*dhcpv4.DHCPv4, error) {
	reply := dhcpv4.MessageTypeOffer
	switch {
	case m.MessageType() == dhcpv4.MessageTypeDiscover:
	case m.MessageType() == dhcpv4.MessageTypeRequest &&
		m.RequestedIPAddress().Equal(offeredIP) && m.ServerIdentifier().Equal(serverIP):
		reply = dhcpv4.MessageTypeAck
	case m.MessageType() == dhcpv4.MessageTypeRequest && m.ClientIPAddr.Equal(offeredIP): // renewing
		reply = dhcpv4.MessageTypeAck
	case m.MessageType() == dhcpv4.MessageTypeRequest:
		reply = dhcpv4.MessageTypeNak
	default:
		return nil, nil
	}
	return dhcpv4.NewReplyFromRequest(m,
		dhcpv4.WithMessageType(reply),
		dhcpv4.WithYourIP(offeredIP),
		dhcpv4.WithServerIP(serverIP),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithOption(dhcpv4.OptRouter(serverIP)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP)),
		dhcpv4.WithOption(dhcpv4.OptHostName(nodeHostname)),
		dhcpv4.WithLeaseTime(leaseTime))
}

func TestUp(t *testing.T) {
	hostHostname, _ := os.Hostname()
	n := newTestNet(t)
	serveDHCP(t, n)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))

	// Without BOOTIF, Up must pass over eth1 (no carrier) for eth0. With
	// it, Up goes straight to eth0, which is configured already by then.
	for _, tt := range []struct{ name, bootif string }{
		{"without BOOTIF", ""},
		{"with BOOTIF", "01-52-54-00-12-34-56"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inNamespace(t, n.node, func() {
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				lease, err := Up(ctx, tt.bootif, log)
				if err != nil {
					t.Errorf("Up: %v", err)
					return
				}
				if lease.Interface != "eth0" || lease.Addr.String() != "10.198.0.100/24" ||
					lease.Router.String() != "10.198.0.1" || lease.ServerID.String() != "10.198.0.1" ||
					lease.Hostname != nodeHostname || lease.LeaseTime != time.Hour {
					t.Errorf("lease %+v", lease)
				}
				if hostname, _ := os.Hostname(); hostname != nodeHostname {
					t.Errorf("hostname %q, want %q", hostname, nodeHostname)
				}
			})
			if addr := ip(t, "-n", n.node, "-o", "-4", "addr", "show", "dev", "eth0"); !strings.Contains(addr, "inet 10.198.0.100/24 brd 10.198.0.255") {
				t.Errorf("eth0 addresses:\n%s\nwant 10.198.0.100/24", addr)
			}
			if route := ip(t, "-n", n.node, "-4", "route", "show", "default"); strings.TrimSpace(route) != "default via 10.198.0.1 dev eth0" {
				t.Errorf("default route %q, want via 10.198.0.1 dev eth0", route)
			}
		})
	}
	if hostname, _ := os.Hostname(); hostname != hostHostname {
		t.Errorf("the host's hostname changed from %q to %q", hostHostname, hostname)
	}
}

func TestUpGivesUpWhenContextEnds(t *testing.T) {
	n := newTestNet(t)
	// BOOTIF names eth1, which never gets carrier.
	eth1 := strings.Fields(ip(t, "-n", n.node, "-o", "link", "show", "dev", "eth1"))
	bootif := eth1[slices.Index(eth1, "link/ether")+1]
	inNamespace(t, n.node, func() {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := Up(ctx, bootif, slog.New(slog.NewTextHandler(t.Output(), nil)))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Up = %v, want context.DeadlineExceeded", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Up took %v to notice its 2 s context ended", took)
		}
	})
}
