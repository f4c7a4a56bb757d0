package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/protocol"
	"github.com/ramfarm/ramfarm/qemu-tests/vm"
)

// BootToReadyConfig is the boot-to-ready benchmark: one QEMU node, booted
// Runs times by ramfarm alone and Runs times by dnsmasq plus a dispatcher
// that only accepts agents.
type BootToReadyConfig struct {
	Runs      int
	Ramfarm   string // the ramfarm binary
	ImagesDir string
	Kernel    string // file names in ImagesDir
	Initrd    string
	IPXEDir   string        // undionly.kpxe for dnsmasq's TFTP root (PXE ROMs that are not iPXE)
	WorkDir   string        // state, logs, serial consoles
	Timeout   time.Duration // for one boot; default 5 min (TCG on a busy host)
}

// The node's network: one bridge in a namespace, dispatcher (and dnsmasq)
// at .1, the same for both servers.
var (
	b2rServer = netip.MustParsePrefix("10.78.0.1/24")
	b2rFirst  = "10.78.0.100"
	b2rLast   = "10.78.0.199"
	b2rMask   = "255.255.255.0"
	b2rMAC    = net.HardwareAddr{0x52, 0x54, 0x00, 0x78, 0x00, 0x01}
)

// b2rCmdline is the --cmdline ramfarm gets: the e2e test's.
const b2rCmdline = "console=ttyS0"

// bootRun is one boot's setting: where the servers run and what they share
// between the two sides.
type bootRun struct {
	ns, dir string
	// token is the node enrollment token, written into the dispatcher's
	// state before it starts, the same on both sides, so that both nodes
	// get the same command line.
	token string
	// caCert and caKey are the cluster CA, shared for the same reason.
	caCert, caKey []byte
	// cmdline is, for the dnsmasq side, the command line the node booted
	// by ramfarm got (from its serial console), without the initrd= and
	// BOOTIF= arguments the script adds: the same arguments, whatever
	// ramfarm's script holds today.
	cmdline string
}

// bootServers starts whatever boots the node and accepts its agent, and
// returns the dispatcher's API client and a function that stops it all.
type bootServers func(ctx context.Context, cfg BootToReadyConfig, run bootRun) (*api.Client, func(), error)

// BootToReady boots the node cfg.Runs times from each side, alternating
// (ramfarm, dnsmasq, ramfarm, ...) so that the host's load drifts over both
// alike, and returns the times from QEMU's start until the agent registered.
func BootToReady(ctx context.Context, cfg BootToReadyConfig) (ramfarm, dnsmasq []time.Duration, err error) {
	if err := requireRoot(); err != nil {
		return nil, nil, err
	}
	for _, tool := range []string{"dnsmasq", "qemu-system-x86_64"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, nil, fmt.Errorf("%s not found: run `make deps bench-deps`", tool)
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Minute
	}
	token := rand.Text() + rand.Text() // as the dispatcher makes its own
	// One cluster CA for both sides too, so the CA pin in the reused
	// command line is the one the dnsmasq side's dispatcher holds.
	ca, err := protocol.NewCA()
	if err != nil {
		return nil, nil, err
	}
	caCert, caKey, err := ca.PEM()
	if err != nil {
		return nil, nil, err
	}
	for run := range cfg.Runs {
		d, ramfarmLine, err := bootOnce(ctx, cfg, fmt.Sprintf("r%d", run), bootRun{token: token, caCert: caCert, caKey: caKey}, ramfarmBoots)
		if err != nil {
			return ramfarm, dnsmasq, fmt.Errorf("ramfarm, run %d: %w", run+1, err)
		}
		ramfarm = append(ramfarm, d)
		args, err := scriptArgs(ramfarmLine)
		if err != nil {
			return ramfarm, dnsmasq, fmt.Errorf("ramfarm, run %d: %w", run+1, err)
		}
		d, dnsmasqLine, err := bootOnce(ctx, cfg, fmt.Sprintf("d%d", run), bootRun{token: token, caCert: caCert, caKey: caKey, cmdline: args}, dnsmasqBoots)
		if err != nil {
			return ramfarm, dnsmasq, fmt.Errorf("dnsmasq, run %d: %w", run+1, err)
		}
		if dnsmasqLine != ramfarmLine {
			return ramfarm, dnsmasq, fmt.Errorf("run %d: the nodes booted with different command lines:\nramfarm: %s\ndnsmasq: %s", run+1, ramfarmLine, dnsmasqLine)
		}
		dnsmasq = append(dnsmasq, d)
	}
	return ramfarm, dnsmasq, nil
}

// kernelCmdlineLine is how the kernel prints its command line early in the
// boot (at notice level, which console=ttyS0 without "quiet" shows).
const kernelCmdlineLine = "Kernel command line: "

// bootedCmdline returns the command line the kernel printed on the serial
// console.
func bootedCmdline(serial string) (string, error) {
	_, rest, ok := strings.Cut(serial, kernelCmdlineLine)
	if !ok {
		return "", errors.New("the serial console shows no kernel command line")
	}
	line, _, _ := strings.Cut(rest, "\n")
	return strings.TrimSpace(line), nil
}

// scriptArgs takes from a booted command line the initrd= and BOOTIF=
// arguments that tftpBootScript adds itself.
func scriptArgs(cmdline string) (string, error) {
	var keep []string
	var initrd, bootif bool
	for _, arg := range strings.Fields(cmdline) {
		switch {
		case strings.HasPrefix(arg, "initrd="):
			initrd = true
		case strings.HasPrefix(arg, "BOOTIF="):
			bootif = true
		default:
			keep = append(keep, arg)
		}
	}
	if !initrd || !bootif {
		return "", fmt.Errorf("command line %q lacks initrd= or BOOTIF=: not the form tftpBootScript writes", cmdline)
	}
	return strings.Join(keep, " "), nil
}

// bootOnce powers the node on in a fresh network with fresh servers and
// waits for its agent to register.
// It returns the time from power-on to registration and the command line
// the node's kernel got.
func bootOnce(ctx context.Context, cfg BootToReadyConfig, tag string, run bootRun, start bootServers) (time.Duration, string, error) {
	run.ns = fmt.Sprintf("rfb2r%d%s", os.Getpid()%100000, tag)
	network, err := vm.NewNet(vm.NetConfig{Name: run.ns, Bridge: "br0", Addr: b2rServer})
	if err != nil {
		return 0, "", err
	}
	defer network.Close()
	if err := network.AddTap("tap0"); err != nil {
		return 0, "", err
	}
	if run.dir, err = os.MkdirTemp(cfg.WorkDir, "b2r-"+tag+"-"); err != nil {
		return 0, "", err
	}
	for name, content := range map[string][]byte{"node-token": []byte(run.token + "\n"), "ca.crt": run.caCert, "ca.key": run.caKey} {
		if err := os.WriteFile(filepath.Join(run.dir, name), content, 0o600); err != nil {
			return 0, "", err
		}
	}
	client, stop, err := start(ctx, cfg, run)
	if err != nil {
		return 0, "", err
	}
	defer stop()

	node, err := vm.StartNode(ctx, vm.NodeConfig{
		Name: "node", Net: network, Tap: "tap0", MAC: b2rMAC, CPUs: 1, MemoryMB: 512,
		NIC: "virtio-net-pci", SerialLog: filepath.Join(run.dir, "serial.log"),
	})
	if err != nil {
		return 0, "", err
	}
	defer node.Stop()
	wctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	registered, err := waitRegistered(wctx, client, b2rMAC.String())
	if err != nil {
		return 0, "", fmt.Errorf("%w\nserial console (last 3000 bytes):\n%s", err, tail(node.Log(), 3000))
	}
	cmdline, err := bootedCmdline(node.Log())
	return registered.Sub(node.StartedAt()), cmdline, err
}

// waitRegistered polls the node table until the node with mac is ready and
// returns when the dispatcher registered it (its own clock, not the poll's).
func waitRegistered(ctx context.Context, c *api.Client, mac string) (time.Time, error) {
	for {
		nodes, err := c.Nodes(ctx)
		if err != nil && ctx.Err() == nil {
			return time.Time{}, err
		}
		for _, n := range nodes {
			if n.MAC == mac && n.State == api.NodeReady && !n.Registered.IsZero() {
				return n.Registered, nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("node %s not ready: %w", mac, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ramfarmBoots is run 1: `ramfarm serve` does DHCP, TFTP, HTTP and takes
// the agent, as in the e2e test.
func ramfarmBoots(ctx context.Context, cfg BootToReadyConfig, run bootRun) (*api.Client, func(), error) {
	cmd, client, err := startRamfarm(ctx, cfg.Ramfarm, cfg.ImagesDir, serverSetup{
		NS: run.ns, Iface: "br0", First: b2rFirst, Last: b2rLast, Dir: run.dir,
		Extra: []string{"--kernel", cfg.Kernel, "--initrd", cfg.Initrd, "--ipxe-dir", cfg.IPXEDir,
			"--cmdline", b2rCmdline, "--heartbeat", "1s", "--log-level", "info"},
	})
	if err != nil {
		return nil, nil, err
	}
	return client, func() { stopProcess(cmd) }, nil
}

// dnsmasqBoots is run 2: dnsmasq does DHCP and TFTP with its usual iPXE
// setup (dnsmasqBootFlags), its boot.ipxe giving the kernel the very command
// line ramfarm gave its node (run.cmdline, same token); the dispatcher runs
// with --no-pxe only to take the agent, at the address that command line
// names.
func dnsmasqBoots(ctx context.Context, cfg BootToReadyConfig, run bootRun) (*api.Client, func(), error) {
	dir := run.dir
	agentAddr := net.JoinHostPort(b2rServer.Addr().String(), "7070")
	disp, client, err := startRamfarmArgs(ctx, cfg.Ramfarm, run.ns, dir, []string{"serve", "--no-pxe",
		"--agent-addr", agentAddr, "--state-dir", dir, "--api-socket", filepath.Join(dir, "api.sock"),
		"--heartbeat", "1s", "--metrics-addr", "", "--log-level", "info"})
	if err != nil {
		return nil, nil, err
	}
	// dnsmasq gets a directory of its own beside the dispatcher's state:
	// tftpRoot opens it (and its parent) to "nobody", which the state
	// directory must not be.
	dnsDir, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+"-dnsmasq-")
	if err != nil {
		stopProcess(disp)
		return nil, nil, err
	}
	root, err := tftpRoot(dnsDir, bootImage{
		IPXE:    filepath.Join(cfg.IPXEDir, ipxeBinary),
		Kernel:  filepath.Join(cfg.ImagesDir, cfg.Kernel),
		Initrd:  filepath.Join(cfg.ImagesDir, cfg.Initrd),
		Cmdline: run.cmdline,
	}, b2rServer.Addr().String())
	if err != nil {
		stopProcess(disp)
		return nil, nil, err
	}
	dns, err := startDnsmasq(ctx, serverSetup{NS: run.ns, Iface: "br0", First: b2rFirst, Last: b2rLast, Mask: b2rMask,
		Dir: dnsDir, Extra: dnsmasqBootFlags(root, 1)})
	if err != nil {
		stopProcess(disp)
		return nil, nil, err
	}
	return client, func() { stopProcess(dns); stopProcess(disp) }, nil
}

// Median returns the middle value (the lower middle for an even count).
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(ds))
	return median(sorted)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
