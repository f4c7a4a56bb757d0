package pxe

import (
	"io"
	"log/slog"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDHCPSocketGetsALargeReceiveBuffer(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	growReceiveBuffer(pc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	raw, err := pc.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	raw.Control(func(fd uintptr) { size, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) })
	// The kernel reports twice what was set (its bookkeeping overhead).
	if err != nil || size < dhcpReceiveBuffer {
		t.Fatalf("receive buffer %d bytes (err %v), want at least %d", size, err, dhcpReceiveBuffer)
	}
}
