package agent

import (
	"errors"
	"log/slog"
	"os"
	"syscall"
)

// readKernelLog copies the kernel's log (/dev/kmsg, from the first message
// of the boot on) into c until the device fails. Run it on a node only.
func readKernelLog(c *ConsoleLog, log *slog.Logger) {
	f, err := os.Open("/dev/kmsg")
	if err != nil {
		log.Warn("kernel log not forwarded", "err", err)
		return
	}
	defer f.Close()
	buf := make([]byte, 8192) // one record per read; the kernel's records are under 1 KB
	for {
		n, err := f.Read(buf)
		if errors.Is(err, syscall.EPIPE) {
			// The kernel overwrote records before we read them; reading
			// goes on with the oldest one left.
			c.mu.Lock()
			c.dropped++
			c.mu.Unlock()
			continue
		}
		if err != nil {
			log.Warn("kernel log forwarding stopped", "err", err)
			return
		}
		if at, text, ok := kernelLine(string(buf[:n])); ok {
			c.add(at, "kernel", text)
		}
	}
}
