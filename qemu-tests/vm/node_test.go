package vm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// iPXE needs a few seconds of emulated firmware before it asks for DHCP;
// this leaves room for a loaded machine.
const ipxeTimeout = 90 * time.Second

// TestNodesPXEBootThroughIPXE powers on an e1000 and a virtio-net node with
// no DHCP server around and checks each one's option ROM starts iPXE,
// which then tries to configure its NIC from the network.
func TestNodesPXEBootThroughIPXE(t *testing.T) {
	requireHost(t)
	n := newTestNet(t)
	var nodes []*Node
	for i, nic := range []string{"e1000", "virtio-net-pci"} {
		if err := n.AddTap(testTap(i)); err != nil {
			t.Fatal(err)
		}
		node, err := StartNode(context.Background(), NodeConfig{
			Name:      "node" + strconv.Itoa(i),
			Net:       n,
			Tap:       testTap(i),
			MAC:       testMAC(i),
			NIC:       nic,
			SerialLog: filepath.Join(t.TempDir(), "serial.log"),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = node.Stop() })
		nodes = append(nodes, node)
	}

	for i, node := range nodes {
		requireQEMUInNamespace(t, node, n)
		waitForLog(t, node, ipxeTimeout, "iPXE", "Configuring (net0 "+testMAC(i).String()+")")
	}

	if err := nodes[0].Kill(); err != nil {
		t.Errorf("Kill: %v", err)
	}
	for range 2 { // Stop is idempotent
		if err := nodes[1].Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	requireNoLeftovers(t, n.cfg.Name)
}

// requireQEMUInNamespace checks the node's PID is QEMU itself (ip netns exec
// replaced itself, so signals and the parent-death signal reach QEMU) and
// that it runs in the network's namespace.
func requireQEMUInNamespace(t *testing.T, node *Node, n *Net) {
	t.Helper()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", node.PID()))
	if err != nil || !strings.HasPrefix(string(comm), "qemu-system") {
		t.Fatalf("pid %d is %q (%v), want QEMU:\n%s", node.PID(), comm, err, node.Log())
	}
	nodeNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", node.PID()))
	if err != nil {
		t.Fatal(err)
	}
	var netNS syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netnsDir, n.cfg.Name), &netNS); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("net:[%d]", netNS.Ino); nodeNS != want {
		t.Fatalf("QEMU runs in network namespace %s, want %s (%s)", nodeNS, want, n.cfg.Name)
	}
}

// orphanEnv tells a re-executed test binary to play the test process that
// dies: the name of the network to start a node in.
const orphanEnv = "RAMFARM_VM_ORPHAN_NET"

// TestNodeDiesWithTheTest kills a test process that has a node running and
// checks the node's QEMU goes with it.
func TestNodeDiesWithTheTest(t *testing.T) {
	if name := os.Getenv(orphanEnv); name != "" {
		startNodeAndHang(name)
		return
	}
	requireHost(t)
	prefix := testPrefix(t)
	child := exec.Command(os.Args[0], "-test.run=^TestNodeDiesWithTheTest$", "-test.count=1")
	child.Env = append(os.Environ(), orphanEnv+"="+prefix)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = child.Process.Kill()
		_ = child.Wait()
		_ = exec.Command("ip", "netns", "del", prefix).Run() // if the test failed before doing so
	})

	pid := readQEMUPID(t, out)
	if !processAlive(pid) {
		t.Fatalf("QEMU (pid %d) is not running", pid)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("QEMU (pid %d) outlived the test process that started it", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := ip("netns", "del", prefix); err != nil {
		t.Fatal(err)
	}
	requireNoLeftovers(t, prefix)
}

// startNodeAndHang runs in the child: it starts a node, prints its QEMU's
// pid and waits to be killed.
func startNodeAndHang(netName string) {
	n, err := NewNet(NetConfig{Name: netName, Bridge: "br0", Addr: netip.MustParsePrefix("10.77.0.1/24")})
	if err == nil {
		err = n.AddTap("tap0")
	}
	var node *Node
	if err == nil {
		node, err = StartNode(context.Background(), NodeConfig{
			Name: "orphan", Net: n, Tap: "tap0", MAC: testMAC(9),
			SerialLog: os.DevNull,
		})
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("qemu pid", node.PID())
	select {}
}

func readQEMUPID(t *testing.T, out io.Reader) int {
	t.Helper()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the child test process said nothing: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "qemu pid ")))
	if err != nil {
		t.Fatalf("the child test process said %q", line)
	}
	return pid
}

// processAlive reports whether pid is a live process (not gone, not a zombie).
func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}
