package agent

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// setUserTimeout makes the kernel fail the connection when data sent to the
// dispatcher stays unacknowledged for d. Heartbeats are sent every period,
// so a dispatcher whose machine vanished (no FIN, no RST) is noticed within
// d instead of the default retransmission timeout of about fifteen minutes.
func setUserTimeout(nc net.Conn, d time.Duration) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
	})
}
