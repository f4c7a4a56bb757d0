// Package vm builds throwaway QEMU clusters for ramfarm's end-to-end tests
// and demo: a private network (a network namespace holding a bridge and one
// tap device per node) and QEMU guests that PXE-boot from whatever listens
// on that bridge, which is our dispatcher.
//
// Nothing here touches the host's own interfaces or routes: every link is
// created inside the namespace and every QEMU runs inside it, so all guest
// traffic stays there. It needs root, iproute2 and qemu-system-x86_64
// (Debian: iproute2, qemu-system-x86, ipxe-qemu).
package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
)

// NetConfig describes a private network.
type NetConfig struct {
	Name   string       // network namespace name, e.g. "rf-e2e-1234"
	Bridge string       // bridge inside it, e.g. "br0"
	Addr   netip.Prefix // the bridge's address, where the dispatcher listens, e.g. 10.77.0.1/24
}

// Net is a private network: a network namespace holding a bridge with an
// address, and tap devices that connect nodes to the bridge.
type Net struct {
	cfg NetConfig

	mu   sync.Mutex
	taps []string
}

// NewNet creates the namespace with its loopback up and the bridge
// configured and up. The bridge runs no spanning tree and has no forward
// delay, so a port forwards as soon as a node's NIC comes up: otherwise the
// firmware's first DHCP requests would be dropped.
func NewNet(cfg NetConfig) (*Net, error) {
	if cfg.Name == "" || cfg.Bridge == "" || !cfg.Addr.IsValid() {
		return nil, fmt.Errorf("vm: NetConfig needs Name, Bridge and Addr, got %+v", cfg)
	}
	if err := ip("netns", "add", cfg.Name); err != nil {
		return nil, err
	}
	n := &Net{cfg: cfg}
	err := n.ipIn(
		[]string{"link", "set", "lo", "up"},
		[]string{"link", "add", cfg.Bridge, "type", "bridge", "forward_delay", "0", "stp_state", "0"},
		[]string{"addr", "add", cfg.Addr.String(), "dev", cfg.Bridge},
		[]string{"link", "set", cfg.Bridge, "up"},
	)
	if err != nil {
		return nil, errors.Join(err, n.Close())
	}
	return n, nil
}

// AddTap creates a tap device in the namespace, enslaved to the bridge and
// up. It shows no carrier until a node's QEMU opens it.
func (n *Net) AddTap(name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if slices.Contains(n.taps, name) {
		return fmt.Errorf("vm: tap %s already exists in %s", name, n.cfg.Name)
	}
	err := n.ipIn(
		[]string{"tuntap", "add", "dev", name, "mode", "tap"},
		[]string{"link", "set", name, "master", n.cfg.Bridge, "up"},
	)
	if err != nil {
		return err
	}
	n.taps = append(n.taps, name)
	return nil
}

// Command returns a command that runs inside the namespace. ip netns exec
// execs the command in place, so the process is the command itself.
func (n *Net) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.cfg.Name, name}, args...)...)
}

// Close deletes the taps, the bridge and the namespace. It is idempotent.
// Stop the nodes first: a QEMU still running keeps the namespace alive
// after its name is gone.
func (n *Net) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := os.Stat(filepath.Join(netnsDir, n.cfg.Name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var errs []error
	for _, link := range append(n.taps, n.cfg.Bridge) {
		if n.hasLink(link) {
			errs = append(errs, n.ipIn([]string{"link", "del", link}))
		}
	}
	n.taps = nil
	errs = append(errs, ip("netns", "del", n.cfg.Name))
	return errors.Join(errs...)
}

// netnsDir is where ip netns keeps the namespaces it names.
const netnsDir = "/run/netns"

func (n *Net) hasLink(name string) bool {
	return exec.Command("ip", "-n", n.cfg.Name, "link", "show", "dev", name).Run() == nil
}

// ipIn runs each argument list as an ip command inside the namespace,
// stopping at the first failure.
func (n *Net) ipIn(commands ...[]string) error {
	for _, args := range commands {
		if err := ip(append([]string{"-n", n.cfg.Name}, args...)...); err != nil {
			return err
		}
	}
	return nil
}

func ip(args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("vm: ip %q: %w: %s", args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}
