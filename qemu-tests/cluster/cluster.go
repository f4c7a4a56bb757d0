// Package cluster assembles a whole ramfarm cluster on one host for the
// end-to-end test and the demo: a private network in a namespace, the real
// dispatcher (the ramfarm binary) serving DHCP, TFTP and HTTP on its bridge
// (or, with ProxyDHCP, only what to boot, beside dnsmasq as the site's DHCP
// server), and QEMU nodes, BIOS or UEFI, that PXE-boot from it. Nothing here
// fakes a part: the only difference from a rack is that the machines are
// emulated.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/qemu-tests/vm"
)

// NodeSpec describes one emulated machine.
type NodeSpec struct {
	CPUs     int
	MemoryMB int
	NIC      string      // QEMU NIC model; "" is e1000 for BIOS, virtio-net-pci for UEFI
	Firmware vm.Firmware // "" is BIOS (SeaBIOS and the NIC's iPXE ROM); vm.UEFI is OVMF's PXE client
}

// Config describes a cluster.
type Config struct {
	Name       string     // prefix of the namespace and other host objects; unique per run
	RamfarmBin string     // the dispatcher binary
	ImagesDir  string     // the node image (make image)
	Kernel     string     // kernel file in ImagesDir; "" is the dispatcher's default, vmlinuz
	ProxyDHCP  bool       // dnsmasq leases the addresses; the dispatcher runs --dhcp-mode proxy and only says what to boot
	WorkDir    string     // dispatcher state, logs, serial consoles
	Nodes      []NodeSpec // machines, powered on by PowerOn
	Heartbeat  time.Duration
	// BootProfiles is a boot profiles file for the dispatcher
	// (--boot-profiles); "" boots every node with the default profile.
	BootProfiles string
}

// Subnet of the private network; the dispatcher is .1 on the bridge.
var (
	dispatcherAddr = netip.MustParsePrefix("10.77.0.1/24")
	dhcpRange      = "10.77.0.100-10.77.0.199"
)

// Cluster is a running cluster.
type Cluster struct {
	cfg    Config
	net    *vm.Net
	disp   *exec.Cmd
	exited chan struct{} // closed when the dispatcher process has exited
	dlog   *vm.OutputBuffer
	client *api.Client
	socket string
	site   *siteDHCP // the site's DHCP server, with ProxyDHCP

	mu    sync.Mutex
	nodes []*vm.Node // by index in cfg.Nodes; nil until powered on
}

// Start creates the network and starts the dispatcher. Close undoes it all,
// also when Start fails half-way.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = time.Second
	}
	c = &Cluster{cfg: cfg, nodes: make([]*vm.Node, len(cfg.Nodes)), dlog: &vm.OutputBuffer{}}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return c, err
	}
	c.net, err = vm.NewNet(vm.NetConfig{Name: cfg.Name, Bridge: "br0", Addr: dispatcherAddr})
	if err != nil {
		return c, fmt.Errorf("network: %w", err)
	}
	for i := range cfg.Nodes {
		if err := c.net.AddTap(tapName(i)); err != nil {
			return c, fmt.Errorf("tap for node %d: %w", i, err)
		}
	}

	if cfg.ProxyDHCP {
		// Up before the dispatcher: a site's DHCP server was there first.
		if c.site, err = startSiteDHCP(ctx, c.net, cfg.Name, cfg.WorkDir); err != nil {
			return c, fmt.Errorf("site DHCP server: %w", err)
		}
	}

	c.socket = filepath.Join(cfg.WorkDir, "api.sock")
	args := []string{"serve",
		"--interface", "br0",
		"--boot-dir", cfg.ImagesDir,
		"--state-dir", filepath.Join(cfg.WorkDir, "state"),
		"--api-socket", c.socket,
		"--heartbeat", cfg.Heartbeat.String(),
		"--cmdline", "console=ttyS0",
		"--log-level", "debug",
	}
	if cfg.BootProfiles != "" {
		args = append(args, "--boot-profiles", cfg.BootProfiles)
	}
	args = append(args, c.bootArgs()...)
	c.disp = c.net.Command(context.Background(), cfg.RamfarmBin, args...)
	logFile, err := os.Create(filepath.Join(cfg.WorkDir, "dispatcher.log"))
	if err != nil {
		return c, err
	}
	out := io.MultiWriter(c.dlog, logFile)
	c.disp.Stdout, c.disp.Stderr = out, out
	c.disp.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.disp.Start(); err != nil {
		logFile.Close()
		return c, fmt.Errorf("start dispatcher: %w", err)
	}
	c.exited = make(chan struct{})
	go func() {
		c.disp.Wait() // returns once the output is copied
		logFile.Close()
		close(c.exited)
	}()
	c.client = api.NewClient(c.socket)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := c.client.Nodes(ctx); err == nil {
			break
		}
		select {
		case <-c.exited:
			return c, fmt.Errorf("dispatcher exited at start:\n%s", c.dlog.String())
		case <-ctx.Done():
			return c, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("dispatcher API not up after 30s:\n%s", c.dlog.String())
		}
	}
	return c, nil
}

func tapName(i int) string { return fmt.Sprintf("tap%d", i) }

// MAC returns the MAC address of node i.
func MAC(i int) net.HardwareAddr { return net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x00, byte(i + 1)} }

// Client returns an API client for the dispatcher.
func (c *Cluster) Client() *api.Client { return c.client }

// APISocket returns the dispatcher's API socket path.
func (c *Cluster) APISocket() string { return c.socket }

// PowerOn starts node i's QEMU; it PXE-boots from the dispatcher.
func (c *Cluster) PowerOn(ctx context.Context, i int) (*vm.Node, error) {
	spec := c.cfg.Nodes[i]
	n, err := vm.StartNode(ctx, vm.NodeConfig{
		Name: fmt.Sprintf("%s-node%d", c.cfg.Name, i), Net: c.net, Tap: tapName(i), MAC: MAC(i),
		CPUs: spec.CPUs, MemoryMB: spec.MemoryMB, NIC: spec.NIC, Firmware: spec.Firmware,
		SerialLog: filepath.Join(c.cfg.WorkDir, fmt.Sprintf("node%d-serial.log", i)),
		WorkDir:   c.cfg.WorkDir,
	})
	if err != nil {
		return nil, fmt.Errorf("power on node %d: %w", i, err)
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
	return n, nil
}

// Machine returns node i's QEMU, or nil if it is not powered on or the
// cluster has no node i (so callers can walk a longer list of machines).
func (c *Cluster) Machine(i int) *vm.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i < 0 || i >= len(c.nodes) {
		return nil
	}
	return c.nodes[i]
}

// WaitReady waits until the agent of node i is registered and ready with a
// boot id other than notBoot, and returns its row of the node table.
func (c *Cluster) WaitReady(ctx context.Context, i int, notBoot string) (api.Node, error) {
	mac := MAC(i).String()
	for {
		nodes, err := c.client.Nodes(ctx)
		if err != nil {
			return api.Node{}, err
		}
		for _, n := range nodes {
			if n.MAC == mac && n.State == api.NodeReady && n.BootID != notBoot {
				return n, nil
			}
		}
		select {
		case <-ctx.Done():
			return api.Node{}, fmt.Errorf("node %d (%s) not ready: %w", i, mac, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// WatchDHCP starts recording the DHCP messages on the cluster's network;
// the caller closes the watch.
func (c *Cluster) WatchDHCP() (*vm.DHCPWatch, error) { return c.net.WatchDHCP() }

// SiteLeases returns the leases in the site DHCP server's lease file
// (ProxyDHCP clusters only).
func (c *Cluster) SiteLeases() ([]SiteLease, error) {
	if c.site == nil {
		return nil, fmt.Errorf("cluster %s has no site DHCP server (Config.ProxyDHCP)", c.cfg.Name)
	}
	return c.site.leases()
}

// SiteDHCPLog returns what the site DHCP server logged so far; "" without one.
func (c *Cluster) SiteDHCPLog() string {
	if c.site == nil {
		return ""
	}
	return c.site.log.String()
}

// DispatcherLog returns what the dispatcher logged so far.
func (c *Cluster) DispatcherLog() string { return c.dlog.String() }

// Close powers off every node, stops the dispatcher and removes the network.
func (c *Cluster) Close() error {
	var errs []error
	c.mu.Lock()
	for _, n := range c.nodes {
		if n != nil {
			errs = append(errs, n.Stop())
		}
	}
	c.mu.Unlock()
	if c.exited != nil {
		terminate(c.disp, c.exited, 10*time.Second)
	}
	if c.site != nil {
		c.site.stop()
	}
	if c.net != nil {
		errs = append(errs, c.net.Close())
	}
	return errors.Join(errs...)
}
