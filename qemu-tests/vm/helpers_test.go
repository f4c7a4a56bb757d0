package vm

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// requireHost fails the test, rather than skipping it, when the machine
// cannot run the harness: a skipped harness test hides a broken setup.
func requireHost(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the vm harness creates network namespaces and tap devices: run its tests as root")
	}
	for _, tool := range []string{"ip", "qemu-system-x86_64"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (apt-get install iproute2 qemu-system-x86 ipxe-qemu): %v", tool, err)
		}
	}
}

// testPrefix names this test process's namespaces, so that Leftovers finds
// exactly what this run made.
func testPrefix(t *testing.T) string {
	return fmt.Sprintf("rf-vmtest-%d-%s", os.Getpid(), strings.ToLower(t.Name()))
}

// newTestNet makes a network closed at the end of the test, with link names
// that cannot clash with the host's (they are checked to be absent there).
func newTestNet(t *testing.T) *Net {
	t.Helper()
	n, err := NewNet(NetConfig{
		Name:   testPrefix(t),
		Bridge: fmt.Sprintf("rfbr%d", os.Getpid()),
		Addr:   netip.MustParsePrefix("10.77.0.1/24"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("closing the network: %v", err)
		}
	})
	return n
}

func testTap(i int) string { return fmt.Sprintf("rftap%d-%d", os.Getpid(), i) }

func testMAC(i int) net.HardwareAddr {
	pid := os.Getpid()
	return net.HardwareAddr{0x52, 0x54, 0x00, byte(pid >> 8), byte(pid), byte(i)}
}

// waitForLog polls the node's serial log until it contains every one of
// want, failing with the log after timeout.
func waitForLog(t *testing.T, n *Node, timeout time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		log := n.Log()
		missing := ""
		for _, w := range want {
			if !strings.Contains(log, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serial log lacks %q after %v:\n%s", missing, timeout, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func requireNoLeftovers(t *testing.T, prefix string) {
	t.Helper()
	if left := Leftovers(prefix); len(left) > 0 {
		t.Fatalf("left behind:\n%s", strings.Join(left, "\n"))
	}
}
