package vm

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// udpFrame builds an Ethernet frame with an IPv4 packet (20-byte header) of
// protocol proto from port src to port dst; fragOffset is the IP header's
// fragment field.
func udpFrame(proto byte, src, dst, fragOffset uint16, payload []byte) []byte {
	f := make([]byte, 14+20+8, 14+20+8+len(payload))
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[6:], fragOffset)
	ip[9] = proto
	copy(ip[12:], []byte{10, 77, 0, 1})
	copy(ip[16:], []byte{255, 255, 255, 255})
	binary.BigEndian.PutUint16(ip[20:], src)
	binary.BigEndian.PutUint16(ip[22:], dst)
	return append(f, payload...)
}

func TestDHCPFilterKeepsOnlyDHCP(t *testing.T) {
	vm, err := bpf.NewVM(dhcpFilter)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := dhcpv4.NewDiscovery(net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	payload := disc.ToBytes()
	for _, c := range []struct {
		name  string
		frame []byte
		keep  bool
	}{
		{"client to server", udpFrame(unix.IPPROTO_UDP, 68, 67, 0, payload), true},
		{"server to client", udpFrame(unix.IPPROTO_UDP, 67, 68, 0, payload), true},
		{"to the PXE port", udpFrame(unix.IPPROTO_UDP, 68, 4011, 0, payload), true},
		{"from the PXE port", udpFrame(unix.IPPROTO_UDP, 4011, 68, 0, payload), true},
		{"DNS", udpFrame(unix.IPPROTO_UDP, 40000, 53, 0, payload), false},
		{"TFTP", udpFrame(unix.IPPROTO_UDP, 1500, 69, 0, payload), false},
		{"TCP to 67", udpFrame(unix.IPPROTO_TCP, 68, 67, 0, payload), false},
		{"a later fragment", udpFrame(unix.IPPROTO_UDP, 68, 67, 185, payload), false},
	} {
		n, err := vm.Run(c.frame)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if kept := n > 0; kept != c.keep {
			t.Errorf("%s: filter kept %d bytes, want keep=%v", c.name, n, c.keep)
		}
	}
}

func TestParseDHCPFrame(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}
	disc, err := dhcpv4.NewDiscovery(mac, dhcpv4.WithOption(dhcpv4.OptClientArch(7)))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := parseDHCPFrame(udpFrame(unix.IPPROTO_UDP, 68, 67, 0, disc.ToBytes()))
	if !ok {
		t.Fatal("a DHCPDISCOVER frame was not parsed")
	}
	if p.Src.String() != "10.77.0.1:68" || p.Dst.String() != "255.255.255.255:67" {
		t.Errorf("addresses %s -> %s", p.Src, p.Dst)
	}
	if p.Msg.ClientHWAddr.String() != mac.String() || p.Msg.MessageType() != dhcpv4.MessageTypeDiscover {
		t.Errorf("message %s", p.Msg.Summary())
	}
	if archs := p.Msg.ClientArch(); len(archs) != 1 || archs[0] != 7 {
		t.Errorf("option 93 = %v, want [7]", archs)
	}
	for _, bad := range [][]byte{
		udpFrame(unix.IPPROTO_UDP, 68, 67, 0, []byte("not dhcp")),
		udpFrame(unix.IPPROTO_UDP, 68, 67, 0, nil)[:30],
	} {
		if _, ok := parseDHCPFrame(bad); ok {
			t.Errorf("parsed %q as DHCP", bad)
		}
	}
}

// TestInNamespaceKeepsItsThread checks that the thread inNamespace borrows
// survives, back in the host's namespace: had it exited, the processes it
// started earlier (the dispatcher, dnsmasq, QEMU) would have got their
// parent-death signal.
func TestInNamespaceKeepsItsThread(t *testing.T) {
	requireHost(t)
	n := newTestNet(t)
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var tid int
	var inside string
	if err := n.inNamespace(func() (err error) {
		tid = unix.Gettid()
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside == hostNS {
		t.Fatalf("f ran in the host's namespace %s", hostNS)
	}
	time.Sleep(time.Second) // a thread that ends with its goroutine is gone by now
	after, err := os.Readlink(fmt.Sprintf("/proc/self/task/%d/ns/net", tid))
	if err != nil {
		t.Fatalf("thread %d is gone: %v", tid, err)
	}
	if after != hostNS {
		t.Errorf("thread %d stayed in %s, want the host's %s", tid, after, hostNS)
	}
}
