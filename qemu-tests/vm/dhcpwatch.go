package vm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// DHCPPacket is one DHCP message as it crossed the bridge.
type DHCPPacket struct {
	Src, Dst netip.AddrPort
	Msg      *dhcpv4.DHCPv4
}

// DHCPWatch records every DHCP message (ports 67, 68 and the PXE port
// 4011) that reaches or leaves the network's bridge: what firmware asked
// (option 93, the vendor and user class) and what each server answered,
// which no server log shows in full. Client broadcasts and everything the
// servers on the bridge send pass the bridge device, so nothing a node
// boots from is missed.
type DHCPWatch struct {
	fd   int
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	seen []DHCPPacket
	err  error
}

// dhcpPorts are the UDP ports the watch keeps: server, client, PXE boot server.
var dhcpPorts = []uint32{dhcpv4.ServerPort, dhcpv4.ClientPort, 4011}

// WatchDHCP starts recording DHCP on the bridge. Close it when done.
func (n *Net) WatchDHCP() (*DHCPWatch, error) {
	w := &DHCPWatch{fd: -1, stop: make(chan struct{}), done: make(chan struct{})}
	err := n.inNamespace(func() error {
		ifi, err := net.InterfaceByName(n.cfg.Bridge)
		if err != nil {
			return err
		}
		// ETH_P_ALL, not ETH_P_IP: only "all protocols" sockets see
		// the frames the host sends, and the servers' replies are those.
		proto := int(htons(unix.ETH_P_ALL))
		if w.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return err
		}
		return errors.Join(
			// The filter first, so the kernel queues only DHCP frames
			// and not the kernel and initramfs downloads.
			attachFilter(w.fd, dhcpFilter),
			unix.Bind(w.fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifi.Index}),
			// Wake up now and then to see whether Close was called.
			unix.SetsockoptTimeval(w.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200_000}),
		)
	})
	if err != nil {
		if w.fd >= 0 {
			unix.Close(w.fd)
		}
		return nil, fmt.Errorf("vm: watching DHCP on %s in %s: %w", n.cfg.Bridge, n.cfg.Name, err)
	}
	go w.read()
	return w, nil
}

func (w *DHCPWatch) read() {
	defer close(w.done)
	buf := make([]byte, 65536)
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		n, _, err := unix.Recvfrom(w.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		if p, ok := parseDHCPFrame(buf[:n]); ok {
			w.mu.Lock()
			w.seen = append(w.seen, p)
			w.mu.Unlock()
		}
	}
}

// Packets returns the messages seen so far, in the order they crossed the
// bridge, and the error that stopped the watch early, if any.
func (w *DHCPWatch) Packets() ([]DHCPPacket, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]DHCPPacket(nil), w.seen...), w.err
}

// Close stops the watch. It is idempotent.
func (w *DHCPWatch) Close() error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		<-w.done
		return unix.Close(w.fd)
	}
	return nil
}

// parseDHCPFrame decodes an Ethernet frame carrying a DHCP message; ok is
// false for anything else, malformed messages included.
func parseDHCPFrame(f []byte) (p DHCPPacket, ok bool) {
	const ethLen, udpLen = 14, 8
	if len(f) < ethLen+20 || binary.BigEndian.Uint16(f[12:14]) != unix.ETH_P_IP {
		return p, false
	}
	ip := f[ethLen:]
	ihl := int(ip[0]&0x0f) * 4
	if ihl < 20 || ip[9] != unix.IPPROTO_UDP || len(ip) < ihl+udpLen {
		return p, false
	}
	src, _ := netip.AddrFromSlice(ip[12:16])
	dst, _ := netip.AddrFromSlice(ip[16:20])
	udp := ip[ihl:]
	msg, err := dhcpv4.FromBytes(udp[udpLen:])
	if err != nil {
		return p, false
	}
	return DHCPPacket{
		Src: netip.AddrPortFrom(src, binary.BigEndian.Uint16(udp[0:2])),
		Dst: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(udp[2:4])),
		Msg: msg,
	}, true
}

// dhcpFilter keeps unfragmented IPv4 UDP frames from or to a port in
// dhcpPorts, whole, and drops the rest in the kernel.
var dhcpFilter = func() []bpf.Instruction {
	const drop, keep = "drop", "keep"
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2}, // EtherType
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.ETH_P_IP},
		bpf.LoadAbsolute{Off: 23, Size: 1}, // IP protocol
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_UDP},
		bpf.LoadAbsolute{Off: 20, Size: 2}, // flags and fragment offset
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff},
		bpf.LoadMemShift{Off: 14}, // X = IP header length
	}
	jumps := map[int]string{1: drop, 3: drop, 5: drop}
	for _, portOff := range []uint32{14, 16} { // UDP source, then destination port
		prog = append(prog, bpf.LoadIndirect{Off: portOff, Size: 2})
		for _, port := range dhcpPorts {
			jumps[len(prog)] = keep
			prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: port})
		}
	}
	at := map[string]int{drop: len(prog), keep: len(prog) + 1}
	prog = append(prog, bpf.RetConstant{Val: 0}, bpf.RetConstant{Val: 65535})
	// Jumps count the instructions they skip.
	for i, target := range jumps {
		j := prog[i].(bpf.JumpIf)
		j.SkipTrue = uint8(at[target] - i - 1)
		prog[i] = j
	}
	return prog
}()

func attachFilter(fd int, prog []bpf.Instruction) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return err
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		&unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// inNamespace runs f on an OS thread that has entered the network's
// namespace; sockets f opens stay in that namespace. The thread then goes
// back to the host's namespace and to the Go scheduler. Letting it exit
// instead (a locked goroutine that ends) would be simpler but is not safe
// here: the thread may be the one that started the dispatcher, dnsmasq or
// QEMU, and its exit fires their parent-death signal (SIGKILL). Only if
// the way back fails does the thread stay locked, and so die with f's
// goroutine, rather than run other goroutines in the wrong namespace.
func (n *Net) inNamespace(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer home.Close()
		ns, err := os.Open(filepath.Join(netnsDir, n.cfg.Name))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering %s: %w", n.cfg.Name, err)
			return
		}
		err = f()
		if back := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); back != nil {
			errc <- errors.Join(err, fmt.Errorf("leaving %s: %w", n.cfg.Name, back))
			return // still locked: the thread exits with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}
