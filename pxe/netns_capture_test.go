package pxe

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// frameCapture sees every IPv4 frame on one interface of the client
// namespace (an AF_PACKET socket), to check how the server addressed a
// reply: the MAC and IP it went to, which a UDP socket does not tell.
type frameCapture struct{ fd int }

// capturedReply is a DHCP reply as it crossed the wire.
type capturedReply struct {
	dstMAC net.HardwareAddr
	dst    netip.AddrPort // IP destination and UDP port
	msg    *dhcpv4.DHCPv4
}

func (lab *vethLab) captureFrames(t *testing.T, iface *net.Interface) *frameCapture {
	t.Helper()
	c := &frameCapture{fd: -1}
	if err := lab.inClient(func() (err error) {
		proto := htons(unix.ETH_P_IP)
		if c.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto)); err != nil {
			return err
		}
		return errors.Join(
			unix.Bind(c.fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: iface.Index}),
			unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100_000}),
		)
	}); err != nil {
		t.Fatalf("packet socket on %s: %v", iface.Name, err)
	}
	t.Cleanup(func() { unix.Close(c.fd) })
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// reply waits up to within for a DHCP reply with transaction ID xid; nil if
// none came.
func (c *frameCapture) reply(t *testing.T, xid dhcpv4.TransactionID, within time.Duration) *capturedReply {
	t.Helper()
	buf := make([]byte, 2048)
	for deadline := time.Now().Add(within); time.Now().Before(deadline); {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("reading frames: %v", err)
		}
		if r := parseReplyFrame(buf[:n]); r != nil && r.msg.TransactionID == xid {
			return r
		}
	}
	return nil
}

// parseReplyFrame decodes an Ethernet frame carrying a DHCP reply (UDP to
// port 68 or 67, op BOOTREPLY); nil if it is anything else.
func parseReplyFrame(f []byte) *capturedReply {
	const ethLen, udpLen = 14, 8
	if len(f) < ethLen+20 || binary.BigEndian.Uint16(f[12:14]) != unix.ETH_P_IP {
		return nil
	}
	ip := f[ethLen:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[9] != unix.IPPROTO_UDP || len(ip) < ihl+udpLen {
		return nil
	}
	udp := ip[ihl:]
	port := binary.BigEndian.Uint16(udp[2:4])
	msg, err := dhcpv4.FromBytes(udp[udpLen:])
	if err != nil || msg.OpCode != dhcpv4.OpcodeBootReply {
		return nil
	}
	return &capturedReply{
		dstMAC: net.HardwareAddr(f[0:6]),
		dst:    netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), port),
		msg:    msg,
	}
}
